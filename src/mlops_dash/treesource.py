"""Read a tree of generated output from a folder or from a git ref (for ``mlops-dash diff``)."""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
from pathlib import Path

from mlops_dash.errors import EnvironmentProblem
from mlops_dash.output import MANIFEST, Tree


def read_folder(folder: Path) -> Tree:
    """Every text file below ``folder`` by relative path (the build's file list excluded)."""
    tree: Tree = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_file() and rel != MANIFEST:
            tree[rel] = path.read_bytes().decode("utf-8", errors="replace")
    return tree


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    git = shutil.which("git")
    if git is None:
        raise EnvironmentProblem("git is not installed; give folders instead of git refs")
    return subprocess.run([git, *args], cwd=cwd, capture_output=True, timeout=120, check=False)


def read_git_ref(ref: str, path: str, cwd: Path) -> Tree:
    """Files below ``path`` (relative to the repository root) at commit ``ref``."""
    if ref.startswith("-"):
        raise EnvironmentProblem(f"not a git ref: {ref!r}")
    r = _git(cwd, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if r.returncode != 0:
        raise EnvironmentProblem(f"{ref!r} is neither a folder nor a git ref of the repository "
                                 f"at {cwd}")
    commit = r.stdout.decode().strip()
    prefix = path.strip("/")
    cwd = _toplevel(cwd)  # archive paths are relative to the repository root
    listing = _git(cwd, "ls-tree", "--name-only", commit, "--", prefix or ".")
    if listing.returncode != 0 or not listing.stdout.strip():
        return {}  # the ref has no generated output yet: everything is new
    r = _git(cwd, "archive", "--format=tar", commit, "--", prefix or ".")
    if r.returncode != 0:
        raise EnvironmentProblem(f"git archive {ref} {prefix}: {r.stderr.decode().strip()}")
    tree: Tree = {}
    with tarfile.open(fileobj=io.BytesIO(r.stdout)) as tar:
        for member in tar.getmembers():
            if not member.isfile():
                continue
            rel = member.name[len(prefix) + 1:] if prefix else member.name
            fh = tar.extractfile(member)
            if fh is not None and rel != MANIFEST:
                tree[rel] = fh.read().decode("utf-8", errors="replace")
    return tree


def _toplevel(cwd: Path) -> Path:
    r = _git(cwd, "rev-parse", "--show-toplevel")
    if r.returncode != 0:
        raise EnvironmentProblem(f"{cwd} is not inside a git repository: "
                                 f"{r.stderr.decode().strip()}")
    return Path(r.stdout.decode().strip()).resolve()


def repo_relative(folder: Path, cwd: Path) -> str:
    """``folder`` as a path inside the git repository that contains ``cwd``."""
    top = _toplevel(cwd)
    absolute = (cwd / folder).resolve()
    try:
        return absolute.relative_to(top).as_posix()
    except ValueError:
        raise EnvironmentProblem(f"{folder} is outside the git repository {top}") from None


def read_tree(spec: str, default_path: Path, cwd: Path) -> tuple[Tree, str]:
    """A folder, ``REF`` (its ``default_path``) or ``REF:PATH``; returns the tree and a label."""
    candidate = cwd / spec
    if candidate.is_dir():
        return read_folder(candidate), spec
    ref, sep, path = spec.partition(":")
    if sep and ref and not Path(spec).exists():
        rel = repo_relative(Path(path), cwd) if path else ""
        return read_git_ref(ref, rel, cwd), spec
    if candidate.exists():
        raise EnvironmentProblem(f"{spec} is a file, not a folder of generated output")
    rel = repo_relative(default_path, cwd)
    return read_git_ref(spec, rel, cwd), f"{spec}:{rel}"
