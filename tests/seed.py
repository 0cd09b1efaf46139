"""The design document (seed) parsed into panels and alerts per dashboard."""

from __future__ import annotations

import re
from pathlib import Path

SEED = Path(__file__).parent / "data" / "seed.md"


def seed_dashboards() -> dict[str, dict[str, list]]:
    """``{dashboard title: {"panels": [titles], "alerts": [(name, severity)]}}``."""
    text = SEED.read_text(encoding="utf-8")
    text = re.sub(r"StaleFeat\s+ures", "StaleFeatures", text)  # the seed breaks this name
    out: dict[str, dict[str, list]] = {}
    for block in re.split(r"^## ", text, flags=re.M)[1:]:
        title, _, body = block.partition("\n")
        if not title.endswith(" Dashboard"):
            continue
        name = title.removesuffix(" Dashboard").strip()
        panels = re.findall(r"^\d+\. \*\*(.+?):\*\*", body, flags=re.M)
        alerts = [
            (row[0].strip(), row[2].strip().lower())
            for row in re.findall(r"^\| (\w+) \| (.+?) \| (\w+) \| (.+?) \|$", body, flags=re.M)
            if row[0] != "Alert"
        ]
        out[name] = {"panels": panels, "alerts": alerts}
    return out
