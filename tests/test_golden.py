"""Golden tests: input specs and expected output side by side; `make update-golden` refreshes.

Cases: every folder of tests/golden/ (``specs/`` → ``expected/``), and the shipped specs
(``specs/`` → the committed ``generated/``), so a stale ``generated/`` fails here too.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest
from conftest import GENERATED, ROOT, SPECS

from mlops_dash import output, pipeline

GOLDEN = ROOT / "tests" / "golden"
CASES = {p.name: (p / "specs", p / "expected") for p in sorted(GOLDEN.iterdir()) if p.is_dir()}
CASES["shipped"] = (SPECS, GENERATED)


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden(case: str) -> None:
    specs, expected = CASES[case]
    tree = pipeline.build_tree(specs)
    if os.environ.get("UPDATE_GOLDEN"):
        output.write_tree(tree, expected)
    diff = output.compare_tree(tree, expected)
    if diff.clean:
        return
    lines: list[str] = []
    for rel in diff.stale:
        old = (expected / rel).read_text().splitlines(keepends=True)
        new = tree.get(rel, "").splitlines(keepends=True)
        lines += difflib.unified_diff(old, new, f"expected/{rel}", f"built/{rel}", n=2)
    lines += [f"missing: {rel}\n" for rel in diff.missing]
    lines += [f"extra: {rel}\n" for rel in diff.extra]
    pytest.fail(f"golden case {case!r} differs (run `make update-golden` if intended):\n"
                + "".join(lines[:400]))
