"""Which files of a specs folder are specs: every ``*.yaml``/``*.yml`` in it and its subfolders
(``environments/`` included: an Environment file is known by its kind, wherever it is). Hidden
files and folders (``.git``) are skipped; output folders (holding ``.mlops-dash-files``),
symbolic links to folders and other files are listed as ignored, with the reason, for the
messages that say what was read."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from mlops_dash.errors import EnvironmentProblem
from mlops_dash.outdir_read import MANIFEST

SPEC_SUFFIXES = (".yaml", ".yml")


@dataclass
class Found:
    files: list[Path] = field(default_factory=list)
    ignored: list[tuple[str, str]] = field(default_factory=list)  # (path, why)


def discover(specs_dir: Path) -> Found:
    """The spec files below ``specs_dir``, sorted by path, and the files ignored."""
    if not specs_dir.is_dir():
        raise EnvironmentProblem(f"specs folder not found: {specs_dir}")
    found = Found()
    for root, dirs, names in os.walk(specs_dir):
        if MANIFEST in names and Path(root) != specs_dir:
            found.ignored.append((root, "an mlops-dash output folder (it has .mlops-dash-files)"))
            dirs[:] = []
            continue
        for d in dirs:
            if not d.startswith(".") and (Path(root) / d).is_symlink():
                found.ignored.append((str(Path(root) / d), "a symbolic link to a folder (not "
                                                           "followed)"))
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")
                         and not (Path(root) / d).is_symlink())
        for name in names:
            path = Path(root) / name
            if name.startswith("."):
                continue
            if not path.is_file():
                found.ignored.append((str(path), "not a regular file"))
            elif path.suffix in SPEC_SUFFIXES:
                found.files.append(path)
            else:
                found.ignored.append((str(path), f"not YAML: a spec file ends in .yaml or "
                                                 f".yml, this is {path.suffix or 'without one'}"))
    found.files.sort(key=lambda p: p.relative_to(specs_dir).parts)
    found.ignored.sort()
    return found
