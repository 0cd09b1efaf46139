"""The only writer of the output folder: owned-file manifest, lock, whole-tree swap.

A build never edits the output folder in place. It writes the complete new folder beside the
old one (``.<name>.mlops-dash-tmp.*``): the files it produces, hard links to those that did
not change and to everything it does not own, then exchanges the two folders with one
``renameat2(RENAME_EXCHANGE)`` and deletes the old one. A full disk, a file-size limit or a
kill at any moment therefore leaves the folder entirely the previous build or entirely the
new one; what an interrupted build leaves beside it is removed by the next build under the
lock, and reported by ``check``. Nothing follows a symbolic link: the old folder is walked
without following links, the new one is made of fresh folders, and every path the build owns
is checked to be relative, normalised and inside the folder. The swap and the recovery of an
interrupted one: outdir_swap.py.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from mlops_dash.errors import BuildError, EnvironmentProblem, SpecError, SpecErrors
from mlops_dash.outdir_swap import OLD, STAGE, recover, remove_leftovers, swap

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
    if any(part in ("", ".", "..") for part in rel.split("/")):
        return "not a normalised path inside the output folder ('..', '.', '//' or a final '/')"
    return None


# -- the old folder, as it is (never following a link) ------------------------------------

FILE, DIR, LINK, OTHER = "file", "dir", "link", "other"


def _walk(out: Path) -> dict[str, str]:
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


def _owned(out: Path, shown: Path, entries: dict[str, str]) -> set[str]:
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


def _strays(out: Path, entries: dict[str, str], known: set[str]) -> list[str]:
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


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return None


def _conflicts(tree: Tree, entries: dict[str, str], owned: set[str], shown: Path) -> None:
    """A path the build needs as a folder that is a file or a link it does not own (an owned
    one is replaced), or a folder where it writes a file."""
    problems = []
    needed = {rel.rsplit("/", 1)[0] for rel in tree if "/" in rel}
    for d in sorted({p for rel in needed for p in _parents_and_self(rel)} - owned):
        kind = entries.get(d)
        if kind == LINK:
            problems.append(f"{shown / d} is a symbolic link; the build writes files below it "
                            "and never follows a link (it could lead outside the output "
                            "folder): remove the link")
        elif kind not in (None, DIR):
            problems.append(f"{shown / d} is not a folder; the build writes files below it: "
                            "remove it")
    for rel in sorted(tree):
        if entries.get(rel) == DIR:
            problems.append(f"{shown / rel} is a folder; the build writes a file there: "
                            "remove it")
    if problems:
        raise EnvironmentProblem("\n".join(problems))


def _parents_and_self(rel: str) -> Iterator[str]:
    parts = rel.split("/")
    for i in range(1, len(parts) + 1):
        yield "/".join(parts[:i])


# -- writing ------------------------------------------------------------------------------


@dataclass
class WriteReport:
    written: list[str]
    unchanged: list[str]
    removed: list[str]
    leftovers: list[str] = field(default_factory=list)


@contextlib.contextmanager
def _locked(directory: Path, *, shared: bool = False) -> Iterator[None]:
    """Serialise builds writing into the same (resolved) parent folder: flock on it (shared
    for ``check``, which then never sees a build's staging folder as a leftover)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_tree(tree: Tree, out: Path) -> WriteReport:
    """Make ``out`` hold exactly ``tree`` for the files the build owns, in one swap.

    Files the build owned before and no longer produces are removed, files it never owned are
    kept; when nothing changes, nothing is written.
    """
    if not tree:
        raise BuildError("the build produced no files; refusing to write an empty output")
    folded: dict[str, str] = {}
    for rel in tree:
        if (why := path_problem(rel)) is not None or rel == MANIFEST:
            raise BuildError(f"refusing to write {rel!r}: {why or 'the manifest name'}")
        if (other := folded.setdefault(rel.casefold(), rel)) != rel:
            raise BuildError(f"refusing to write {rel!r} and {other!r}: one file on a "
                             "case-insensitive checkout (macOS, Windows)")
    shown = out
    real = out.resolve()  # a link to the folder, or through a linked parent: the real one
    try:
        real.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EnvironmentProblem(f"cannot create output folder {shown}: {exc.strerror}") from None
    with _locked(real.parent):
        try:
            recover(real)
            leftovers = remove_leftovers(real)
            return _write_locked(tree, real, shown, leftovers)
        except OSError as exc:
            raise EnvironmentProblem(f"cannot write output in {shown}: {exc}") from None


def _write_locked(tree: Tree, real: Path, shown: Path, leftovers: list[str]) -> WriteReport:
    if real.exists() and not real.is_dir():
        raise EnvironmentProblem(f"{shown} is not a folder")
    entries = _walk(real)
    owned = _owned(real, shown, entries)
    _conflicts(tree, entries, owned, shown)
    strays = [s for s in _strays(real, entries, owned | set(tree)) if not s.startswith("../")]
    manifest = "".join(f"{rel}\n" for rel in sorted(tree))
    report = WriteReport([], [], [], leftovers + strays)
    for rel in sorted(tree):
        same = entries.get(rel) == FILE and _read(real / rel) == tree[rel]
        (report.unchanged if same else report.written).append(rel)
    report.removed = sorted(rel for rel in owned - set(tree)
                            if entries.get(rel) in (FILE, LINK, OTHER))
    if (not report.written and not report.removed and not strays
            and entries.get(MANIFEST) == FILE and _read(real / MANIFEST) == manifest):
        return report  # already the new tree: nothing to swap
    drop = owned | set(tree) | set(strays) | {MANIFEST}
    stage = Path(tempfile.mkdtemp(prefix=f".{real.name}.{STAGE}.", dir=real.parent))
    try:
        _fill(stage, real, tree, entries, drop, set(report.unchanged), manifest)
        swap(stage, real)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)  # the new tree, or the old one after a swap
        raise
    shutil.rmtree(stage, ignore_errors=True)  # now the old folder
    return report


def _fill(stage: Path, old: Path, tree: Tree, entries: dict[str, str], drop: set[str],
          unchanged: set[str], manifest: str) -> None:
    """The new folder in ``stage``: kept entries of ``old`` (hard links), then the tree."""
    umask = _umask()
    default_dir = 0o777 & ~umask
    os.chmod(stage, stat.S_IMODE(old.stat().st_mode) if old.is_dir() else default_dir)
    kept_dirs = _kept_dirs(tree, entries, drop)
    for d in sorted(kept_dirs):  # parents sort before children
        os.mkdir(stage / d, stat.S_IMODE(os.lstat(old / d).st_mode) if entries.get(d) == DIR
                 else default_dir)
    for rel, kind in entries.items():
        if kind != DIR and rel not in drop:
            _link(old / rel, stage / rel)
    create_mode_ok = not (umask & 0o644)
    for rel in sorted(tree):
        if rel in unchanged:
            _link(old / rel, stage / rel)
        else:
            _write_new(stage / rel, tree[rel], create_mode_ok)
    _write_new(stage / MANIFEST, manifest, create_mode_ok)


def _kept_dirs(tree: Tree, entries: dict[str, str], drop: set[str]) -> set[str]:
    """Folders of the new tree: those the tree needs, those holding kept entries, and empty
    folders of the old one (not emptied by this build)."""
    dirs = {p for rel in tree if "/" in rel for p in _parents_and_self(rel.rsplit("/", 1)[0])}
    nonempty = {rel.rsplit("/", 1)[0] for rel in entries if "/" in rel}
    for rel, kind in entries.items():
        keep = (kind != DIR and rel not in drop) or (kind == DIR and rel not in nonempty)
        if keep and (kind == DIR or "/" in rel):
            base = rel if kind == DIR else rel.rsplit("/", 1)[0]
            dirs.update(_parents_and_self(base))
    return dirs


def _link(src: Path, dst: Path) -> None:
    """``dst`` as another name of ``src`` (a symbolic link itself, not its target); a copy
    where hard links are not allowed."""
    try:
        os.link(src, dst, follow_symlinks=False)
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EXDEV):
            raise
        if os.path.islink(src):
            os.symlink(os.readlink(src), dst)
        else:
            shutil.copy2(src, dst, follow_symlinks=False)


def _write_new(path: Path, content: str, create_mode_ok: bool) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o644)
    with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(content)
    if not create_mode_ok:
        os.chmod(path, 0o644)


# -- comparing ------------------------------------------------------------------------------


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
    with _locked(real.parent, shared=True):
        return _compare_locked(tree, real, shown)


def _compare_locked(tree: Tree, real: Path, shown: Path) -> TreeDiff:
    entries = _walk(real)
    diff = TreeDiff([], [], [])
    for rel in sorted(tree):
        kind = entries.get(rel)
        if kind is None:
            diff.missing.append(rel)
        elif kind != FILE or _read(real / rel) != tree[rel]:
            diff.stale.append(rel)
    owned = _owned(real, shown, entries)
    diff.extra = sorted(rel for rel in owned - set(tree) if rel in entries)
    diff.stray = _strays(real, entries, owned | set(tree))
    manifest = "".join(f"{rel}\n" for rel in sorted(tree))
    if entries.get(MANIFEST) is None:
        diff.missing.append(MANIFEST)
    elif _read(real / MANIFEST) != manifest and not (diff.missing or diff.extra):
        diff.stale.append(MANIFEST)
    return diff
