"""The only writer of the output folder: owned-file manifest, lock, whole-tree swap.

A build never edits the output folder in place. It writes the complete new folder beside the
old one (``.<name>.mlops-dash-tmp.*``): the files it produces, hard links to those that did
not change and to everything it does not own, then exchanges the two folders with one
``renameat2(RENAME_EXCHANGE)`` and deletes the old one. A full disk, a file-size limit or a
kill at any moment therefore leaves the folder entirely the previous build or entirely the
new one; what an interrupted build leaves beside it is removed by the next build under the
lock, and reported by ``check``. Nothing follows a symbolic link: the old folder is walked
without following links, the new one is made of fresh folders, and every path the build owns
is checked to be relative, normalised and inside the folder.

A build opens its ``Stage`` before it renders: the parallel render's workers then write their
files into the new folder as they go (``Stage.put``), beside the rendering, and ``finish``
adds the rest and swaps. The swap and the recovery of an interrupted one: outdir_swap.py;
the folder as it is, the lock and ``check``'s comparison: outdir_read.py.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from mlops_dash.errors import BuildError, EnvironmentProblem
from mlops_dash.outdir_read import (  # noqa: F401 - MANIFEST, TreeDiff, compare_tree re-exported
    DIR,
    FILE,
    LINK,
    MANIFEST,
    OTHER,
    Tree,
    TreeDiff,
    compare_tree,
    locked,
    owned_files,
    path_problem,
    read_text,
    strays,
    walk,
)
from mlops_dash.outdir_swap import STAGE as STAGE_PREFIX
from mlops_dash.outdir_swap import recover, remove_leftovers, swap


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
    _refuse_names(tree)  # before anything is touched
    with staging(out) as stage:
        return stage.finish(tree)


@contextlib.contextmanager
def staging(out: Path) -> Iterator[Stage]:
    """The new folder of ``out`` begun, under the lock of its parent (held until the end):
    ``put`` files into it, then ``finish``; left without a finish (an error, Ctrl-C), the
    new folder is removed and ``out`` is as it was."""
    real = out.resolve()  # a link to the folder, or through a linked parent: the real one
    try:
        real.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EnvironmentProblem(f"cannot create output folder {out}: {exc.strerror}") from None
    with locked(real.parent):
        try:
            recover(real)
            stage = Stage(out, real, remove_leftovers(real))
        except OSError as exc:
            raise EnvironmentProblem(f"cannot write output in {out}: {exc}") from None
        try:
            yield stage
        finally:  # the unfinished new folder, or after the swap the old one
            shutil.rmtree(stage.folder, ignore_errors=True)


class Stage:
    """One output folder's build under way: the old folder as it was read, the new one
    (``folder``) filling up. Made by ``staging``."""

    def __init__(self, shown: Path, real: Path, leftovers: list[str]) -> None:
        if real.exists() and not real.is_dir():
            raise EnvironmentProblem(f"{shown} is not a folder")
        self.shown, self.real, self.leftovers = shown, real, leftovers
        self.entries = walk(real)
        self.owned = owned_files(real, shown, self.entries)
        self.umask = _umask()
        self.create_mode_ok = not (self.umask & 0o644)  # files made 0644 need no chmod
        self.folder = Path(tempfile.mkdtemp(prefix=f".{real.name}.{STAGE_PREFIX}.",
                                            dir=real.parent))
        self.staged: dict[str, bool] = {}  # path → unchanged, of the files put so far
        self._made: set[str] = set()  # folders put made below ``folder`` (in this process)

    def put(self, files: Tree) -> dict[str, bool]:
        """Write ``files`` into the new folder, except those the old folder holds as they are
        (linked by ``finish``); path → unchanged. Runs in render workers too: it reads only
        what the constructor read, and writes only below ``folder``."""
        done: dict[str, bool] = {}
        made = self._made
        root = str(self.folder)  # paths as text: a Path a file costs more than its write
        try:
            for rel in sorted(files):
                _refuse_path(rel)  # normalised, relative: joined with "/" as it is
                text = files[rel]
                same = self.unchanged(rel, text)
                if not same:
                    path = f"{root}/{rel}"
                    parent = path.rpartition("/")[0]
                    if parent not in made:  # one mkdir a folder, not one a file
                        os.makedirs(parent, exist_ok=True)
                        made.add(parent)
                    _write_new(path, text, self.create_mode_ok)
                done[rel] = same
        except OSError as exc:
            raise EnvironmentProblem(f"cannot write output in {self.shown}: {exc}") from None
        return done

    def unchanged(self, rel: str, text: str) -> bool:
        """Whether the old folder holds ``rel`` as ``text`` (a regular file, never through a
        link: the walk did not follow any)."""
        return self.entries.get(rel) == FILE and read_text(self.real / rel) == text

    def finish(self, tree: Tree) -> WriteReport:
        """Add ``tree`` to what was put and make it ``out``, in one swap (nothing is swapped
        when nothing changed)."""
        try:
            return self._finish(tree)
        except OSError as exc:
            raise EnvironmentProblem(f"cannot write output in {self.shown}: {exc}") from None

    def _finish(self, tree: Tree) -> WriteReport:
        paths = sorted({*tree, *self.staged})
        if not paths:
            raise BuildError("the build produced no files; refusing to write an empty output")
        _refuse_names(paths)
        unchanged = dict(self.staged)
        unchanged.update((rel, self.unchanged(rel, text)) for rel, text in tree.items())
        entries, owned, real = self.entries, self.owned, self.real
        _conflicts(paths, entries, owned, self.shown)
        found = [s for s in strays(real, entries, owned | set(paths)) if not s.startswith("../")]
        manifest = "".join(f"{rel}\n" for rel in paths)
        report = WriteReport([], [], [], self.leftovers + found)
        for rel in paths:
            (report.unchanged if unchanged[rel] else report.written).append(rel)
        report.removed = sorted(rel for rel in owned - set(paths)
                                if entries.get(rel) in (FILE, LINK, OTHER))
        if (not report.written and not report.removed and not found
                and entries.get(MANIFEST) == FILE and read_text(real / MANIFEST) == manifest):
            return report  # already the new tree: nothing to swap
        drop = owned | set(paths) | set(found) | {MANIFEST}
        self._fill(paths, {rel: text for rel, text in tree.items() if not unchanged[rel]},
                   drop, report.unchanged, manifest)
        swap(self.folder, real)  # self.folder now holds the old tree, removed by staging
        return report

    def _fill(self, paths: list[str], new: Tree, drop: set[str], unchanged: list[str],
              manifest: str) -> None:
        """The rest of the new folder, beside the files put: kept entries of the old one and
        the unchanged files (hard links), the files not put yet (``new``), the manifest."""
        stage, old, entries = self.folder, self.real, self.entries
        default_dir = 0o777 & ~self.umask
        os.chmod(stage, stat.S_IMODE(old.stat().st_mode) if old.is_dir() else default_dir)
        for d in sorted(_kept_dirs(paths, entries, drop)):  # parents sort before children
            mode = (stat.S_IMODE(os.lstat(old / d).st_mode) if entries.get(d) == DIR
                    else default_dir) & ~self.umask
            try:
                os.mkdir(stage / d, mode)
            except FileExistsError:  # made by put
                os.chmod(stage / d, mode)
        for rel, kind in entries.items():
            if kind != DIR and rel not in drop:
                _link(old / rel, stage / rel)
        for rel in unchanged:
            _link(old / rel, stage / rel)
        for rel in sorted(new):
            _write_new(stage / rel, new[rel], self.create_mode_ok)
        _write_new(stage / MANIFEST, manifest, self.create_mode_ok)


def _refuse_path(rel: str) -> None:
    if (why := path_problem(rel)) is not None or rel == MANIFEST:
        raise BuildError(f"refusing to write {rel!r}: {why or 'the manifest name'}")


def _refuse_names(paths: Iterable[str]) -> None:
    """Every path inside the folder, and no two that are one file on a case-insensitive
    checkout."""
    folded: dict[str, str] = {}
    for rel in paths:
        _refuse_path(rel)
        if (other := folded.setdefault(rel.casefold(), rel)) != rel:
            raise BuildError(f"refusing to write {rel!r} and {other!r}: one file on a "
                             "case-insensitive checkout (macOS, Windows)")


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


def _write_new(path: Path | str, content: str, create_mode_ok: bool) -> None:
    """A new file holding ``content`` as UTF-8: open, write, close (a text-mode file object
    would add an fstat, an isatty ioctl and two seeks to each of a build's 10,000 files)."""
    data = memoryview(content.encode("utf-8"))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o644)
    try:
        while data:
            data = data[os.write(fd, data):]
    finally:
        os.close(fd)
    if not create_mode_ok:
        os.chmod(path, 0o644)
