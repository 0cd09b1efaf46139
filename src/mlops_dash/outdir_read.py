"""The output folder as it is: the build's file list, what lies in the folder (never
following a link), the lock builds and checks take, and ``check``'s comparison. outdir.py
writes the folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from mlops_dash.errors import EnvironmentProblem, SpecError, SpecErrors
from mlops_dash.outdir_swap import OLD, STAGE

MANIFEST = ".mlops-dash-files"

Tree = dict[str, str]  # relative path → file content


def path_problem(rel: str) -> str | None:
    """Why ``rel`` is not a normalised relative path inside the output folder, or None.

    The one containment check: every path the build writes and every path the manifest says
    it owns (and so may delete) passes through it.
    """
    if not rel:
        return "an empty path"
    if rel.startswith("/"):
        return "an absolute path"
    if "\0" in rel:
        return "a path with a NUL character"
    if "//" not in rel and "/." not in "/" + rel and not rel.endswith("/"):
        return None  # no empty part, none starting with a dot: most paths, told at once
    if any(part in ("", ".", "..") for part in rel.split("/")):
        return "not a normalised path inside the output folder ('..', '.', '//' or a final '/')"
    return None


# -- the old folder, as it is (never following a link) ------------------------------------

FILE, DIR, LINK, OTHER = "file", "dir", "link", "other"


def walk(out: Path) -> dict[str, str]:
    """Every entry below ``out`` by relative path → FILE, DIR, LINK or OTHER; links are not
    followed (what lies below a linked folder is not part of the output folder)."""
    entries: dict[str, str] = {}
    stack = [("", str(out))]
    while stack:
        prefix, folder = stack.pop()
        try:
            it = os.scandir(folder)
        except FileNotFoundError:
            continue
        with it:
            for e in it:
                rel = prefix + e.name
                if e.is_symlink():
                    entries[rel] = LINK
                elif e.is_dir(follow_symlinks=False):
                    entries[rel] = DIR
                    stack.append((rel + "/", e.path))
                elif e.is_file(follow_symlinks=False):
                    entries[rel] = FILE
                else:
                    entries[rel] = OTHER
    return entries


def owned_files(out: Path, shown: Path, entries: dict[str, str]) -> set[str]:
    """The files the last build owned, from its manifest; a line that is not a file path
    inside the folder is a placed error about the manifest (and nothing is deleted)."""
    if entries.get(MANIFEST) != FILE:
        if MANIFEST in entries:
            raise EnvironmentProblem(f"{shown / MANIFEST} is not a regular file; remove it")
        return set()
    raw = (out / MANIFEST).read_bytes()
    where = str(shown / MANIFEST)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(where, f"the build's file list is not UTF-8 (byte {exc.start}); "
                        "delete it and build again", line=raw[:exc.start].count(b"\n") + 1,
                        column=exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1) from None
    owned: set[str] = set()
    problems = []
    for i, line in enumerate(text.split("\n"), start=1):
        if not line:
            continue
        why = path_problem(line)
        if why is None and entries.get(line) == DIR:
            why = "a folder, not a file"
        if why is not None:
            problems.append(SpecError(
                where, f"{line!r} is {why}; this file lists the files the build owns (and "
                "removes when no spec produces them): fix or delete the line", line=i, column=1))
        owned.add(line)
    if problems:
        raise SpecErrors(problems)
    return owned


# Temporary files of the per-file writer of earlier versions: .<name>.<8 random characters>.
_OLD_TEMP = re.compile(r"\.(?P<name>.+)\.[a-z0-9_]{8}")


def strays(out: Path, entries: dict[str, str], known: set[str]) -> list[str]:
    """Leftovers of interrupted builds: staging folders beside ``out`` and temporary files
    beside a file the build owns or produces (by relative path, staging ones as ``../x``)."""
    found = []
    with contextlib.suppress(FileNotFoundError):
        for e in os.scandir(out.parent):
            if e.name.startswith((f".{out.name}.{STAGE}.", f".{out.name}.{OLD}.")):
                found.append(f"../{e.name}")
    for rel, kind in entries.items():
        head, _, name = rel.rpartition("/")
        m = _OLD_TEMP.fullmatch(name)
        if kind == FILE and m and (f"{head}/{m['name']}" if head else m["name"]) in known:
            found.append(rel)
    return sorted(found)


def read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return None


# The folders this process holds locked (resolved path → [descriptor, holders]): a build of
# several environments locks their common parent once, as a second flock on another
# descriptor of the same folder would wait for this process itself.
_HELD: dict[str, list[int]] = {}


@contextlib.contextmanager
def locked(directory: Path, *, shared: bool = False) -> Iterator[None]:
    """Serialise builds writing into the same (resolved) parent folder: flock on it (shared
    for ``check``, which then never sees a build's staging folder as a leftover)."""
    key = str(directory)
    held = _HELD.get(key)
    if held is not None:
        held[1] += 1
        try:
            yield
        finally:
            held[1] -= 1
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        _HELD[key] = [fd, 1]
        yield
    finally:
        _HELD.pop(key, None)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


@dataclass
class TreeDiff:
    stale: list[str]
    missing: list[str]
    extra: list[str]
    stray: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.stale or self.missing or self.extra or self.stray)


def compare_tree(tree: Tree, out: Path) -> TreeDiff:
    """How ``out`` differs from ``tree``: stale, missing, extra (owned but not produced) and
    stray (leftovers of an interrupted build)."""
    shown, real = out, out.resolve()
    if not real.parent.is_dir():
        return _compare_locked(tree, real, shown)
    with locked(real.parent, shared=True):
        return _compare_locked(tree, real, shown)


def _compare_locked(tree: Tree, real: Path, shown: Path) -> TreeDiff:
    entries = walk(real)
    diff = TreeDiff([], [], [])
    for rel in sorted(tree):
        kind = entries.get(rel)
        if kind is None:
            diff.missing.append(rel)
        elif kind != FILE or read_text(real / rel) != tree[rel]:
            diff.stale.append(rel)
    owned = owned_files(real, shown, entries)
    diff.extra = sorted(rel for rel in owned - set(tree) if rel in entries)
    diff.stray = strays(real, entries, owned | set(tree))
    manifest = "".join(f"{rel}\n" for rel in sorted(tree))
    if entries.get(MANIFEST) is None:
        diff.missing.append(MANIFEST)
    elif read_text(real / MANIFEST) != manifest and not (diff.missing or diff.extra):
        diff.stale.append(MANIFEST)
    return diff
