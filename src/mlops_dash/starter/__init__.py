"""`mlops-dash init`: the starter spec set (platform, catalogue, one dashboard with one alert).

Kept free of the spec models so ``init`` starts as fast as ``--help``: it copies files.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from mlops_dash.errors import MlopsDashError

# written in this order; each builds and lints clean with the others (tests/test_init.py)
FILES = ("platform.yaml", "metrics.yaml", "platform-health.yaml")
SPECS_DIR = "specs"


class InitRefused(MlopsDashError):
    """``init`` would overwrite or join existing spec files (exit 1)."""


def starter_text(name: str) -> str:
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")


def write_starter(folder: Path, *, force: bool = False) -> list[Path]:
    """Write the starter specs into ``folder/specs``; refuse when spec files are there already
    (``force``: overwrite the starter's own files, leave the others)."""
    specs = folder / SPECS_DIR
    if specs.exists() and not specs.is_dir():
        raise InitRefused(f"{specs}: exists and is not a folder")
    present = sorted(p for p in specs.iterdir() if p.suffix in (".yaml", ".yml")) \
        if specs.is_dir() else []
    if present and not force:
        names = ", ".join(p.name for p in present[:5]) + (", ..." if len(present) > 5 else "")
        raise InitRefused(
            f"{present[0]}: already exists; {specs} holds spec files ({names}) and init "
            "writes only into a folder without any (choose another DIR, or --force to "
            "overwrite " + ", ".join(FILES) + " and keep the others)")
    specs.mkdir(parents=True, exist_ok=True)
    written = []
    for name in FILES:
        path = specs / name
        path.write_text(starter_text(name), encoding="utf-8")
        written.append(path)
    return written
