"""The output folder's swap: the new folder takes the old one's place in one step (Linux
``renameat2(RENAME_EXCHANGE)``, else two renames that the next build completes), and the
leftovers of an interrupted build are put back or removed (outdir.py writes the new folder).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from pathlib import Path

from mlops_dash.errors import EnvironmentProblem

STAGE = "mlops-dash-tmp"  # .<out name>.mlops-dash-tmp.<random>: a folder being built or dropped
OLD = "mlops-dash-old"  # where the old folder waits where folders cannot be exchanged

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux renameat2 RENAME_EXCHANGE); False where the system
    or the file system cannot."""
    import ctypes  # only to replace a folder that exists

    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):  # pragma: no cover - not glibc ≥ 2.28 / not Linux
        return False
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def swap(stage: Path, out: Path) -> None:
    """``out`` becomes the folder built in ``stage``; ``stage`` then holds the old folder."""
    if not os.path.lexists(out):
        os.rename(stage, out)
        return
    try:
        if _exchange(stage, out):
            return
    except OSError as exc:
        if exc.errno == errno.EBUSY:
            raise EnvironmentProblem(
                f"cannot replace {out}: it is a mount point; build into a folder inside it "
                "(the build swaps the whole folder)") from None
        raise
    # two renames; a build killed between them leaves no folder and the old one beside it,
    # which the next build puts back (recover)
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.{OLD}.", dir=out.parent))
    os.rename(out, old / "tree")
    os.rename(stage, out)
    os.rename(old / "tree", stage)
    os.rmdir(old)


def recover(out: Path) -> None:
    """Put back the old folder of a build killed between the two renames of swap."""
    if os.path.lexists(out):
        return
    with contextlib.suppress(FileNotFoundError):
        for e in os.scandir(out.parent):
            if e.name.startswith(f".{out.name}.{OLD}.") and os.path.isdir(
                    tree := os.path.join(e.path, "tree")):
                os.rename(tree, out)
                return


def remove_leftovers(out: Path) -> list[str]:
    """Remove the staging folders of interrupted builds (never the live folder)."""
    gone = []
    with contextlib.suppress(FileNotFoundError):
        for e in os.scandir(out.parent):
            if e.name.startswith((f".{out.name}.{STAGE}.", f".{out.name}.{OLD}.")):
                shutil.rmtree(e.path, ignore_errors=True)
                gone.append(f"../{e.name}")
    return sorted(gone)
