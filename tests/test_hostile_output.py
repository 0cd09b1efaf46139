"""A hostile output folder: nothing touched outside ``--out``, whole-tree atomicity under a
file-size limit and SIGKILL, leftovers reported by ``check`` and removed by the next build."""

from __future__ import annotations

import fcntl
import hashlib
import inspect
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, SPECS
from mlops_dash import outdir, outdir_swap
from test_cli import run

MANIFEST = ".mlops-dash-files"


def snapshot(folder: Path) -> dict[str, tuple[str, ...]]:
    """Every entry below ``folder`` (links not followed): files by content and mode, links by
    target, folders by mode."""
    out: dict[str, tuple[str, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = p.relative_to(folder).as_posix()
            st = p.lstat()
            if p.is_symlink():
                out[rel] = ("link", os.readlink(p))
            elif p.is_dir():
                out[rel] = ("dir", oct(st.st_mode & 0o777))
            else:
                out[rel] = ("file", hashlib.sha256(p.read_bytes()).hexdigest(),
                            oct(st.st_mode & 0o777))
    return out


def leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


def variant(specs: Path) -> None:
    """Other specs: one dashboard fewer (other file set) and another threshold (other content)."""
    (specs / "cost-optimization.yaml").unlink()
    (specs / "overview.yaml").unlink()  # it summarises the cost dashboard too
    for f in specs.glob("*.yaml"):
        f.write_text(f.read_text().replace("  - {dashboard: mlops-cost-optimization}\n", ""))
    f = specs / "serving-health.yaml"
    f.write_text(f.read_text().replace("threshold: 300", "threshold: 250"))


@pytest.fixture()
def two_trees(tmp_path, specs_copy):
    """(specs A, snapshot A, specs B, snapshot B): the shipped specs and a variant."""
    variant(specs_copy)
    ref_a, ref_b = tmp_path / "ref-a", tmp_path / "ref-b"
    assert run("build", "--specs", str(SPECS), "--out", str(ref_a)).returncode == 0
    assert run("build", "--specs", str(specs_copy), "--out", str(ref_b)).returncode == 0
    a, b = snapshot(ref_a), snapshot(ref_b)
    assert a != b and set(a) != set(b)
    return SPECS, a, specs_copy, b


# -- data outside the output folder ---------------------------------------------------------


@pytest.mark.parametrize("line", ["{victim}", "../outside/victim.txt", "grafana/../../outside/victim.txt",
                                  "./grafana/x.json", "grafana//x.json"])
def test_manifest_paths_outside_the_folder_are_refused_and_nothing_deleted(tmp_path, line):
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "victim.txt"
    victim.write_text("precious\n")
    out = tmp_path / "generated"
    assert run("build", "--out", str(out)).returncode == 0
    manifest = out / MANIFEST
    manifest.write_text(manifest.read_text() + line.format(victim=victim) + "\n")
    before = snapshot(out)
    n = manifest.read_text().count("\n")
    r = run("build", "--out", str(out))
    assert r.returncode == 1, r.stderr
    assert f"{manifest}:{n}:1: " in r.stderr, r.stderr
    assert "fix or delete the line" in r.stderr and "Traceback" not in r.stderr
    assert victim.read_text() == "precious\n" and outside.is_dir()
    assert snapshot(out) == before
    # check says the same (it never deletes, but must not trust the line either)
    r = run("check", "--out", str(out))
    assert r.returncode == 1 and f"{manifest}:{n}:1: " in r.stderr


def test_manifest_line_naming_a_folder_is_a_placed_error(tmp_path):
    out = tmp_path / "generated"
    assert run("build", "--out", str(out)).returncode == 0
    manifest = out / MANIFEST
    lines = manifest.read_text().splitlines()
    manifest.write_text("\n".join(lines[:2] + ["runbooks"] + lines[2:]) + "\n")
    r = run("build", "--out", str(out))
    assert r.returncode == 1
    assert f"error: {manifest}:3:1: 'runbooks' is a folder, not a file;" in r.stderr, r.stderr
    assert "internal error" not in r.stderr
    # fixing the line repairs it
    manifest.write_text("\n".join(lines) + "\n")
    assert run("build", "--out", str(out)).returncode == 0


def test_non_utf8_manifest_is_a_placed_error(tmp_path):
    out = tmp_path / "generated"
    assert run("build", "--out", str(out)).returncode == 0
    (out / MANIFEST).write_bytes(b"grafana/a.json\n\xff\xfe\n")
    r = run("build", "--out", str(out))
    assert r.returncode == 1 and f"{out / MANIFEST}:2:1: " in r.stderr, r.stderr


def test_symlinked_folder_inside_the_output_is_never_followed(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "mine.md").write_text("mine\n")
    out = tmp_path / "generated"
    assert run("build", "--out", str(out)).returncode == 0
    shutil.rmtree(out / "runbooks")
    (out / "runbooks").symlink_to("../outside")
    before = snapshot(out)
    r = run("build", "--out", str(out))
    assert r.returncode == 2
    assert f"{out / 'runbooks'} is a symbolic link; the build writes files below it" in r.stderr
    assert sorted(p.name for p in outside.iterdir()) == ["mine.md"]
    assert snapshot(out) == before and not leftovers(out)
    # check does not read through it either: the runbooks are missing
    r = run("check", "--out", str(out))
    assert r.returncode == 1 and f"missing: {out / 'runbooks'}/" in r.stderr


def test_symlinked_files_are_replaced_not_written_through(tmp_path):
    target = tmp_path / "outside.json"
    target.write_text("not yours\n")
    out = tmp_path / "generated"
    assert run("build", "--out", str(out)).returncode == 0
    produced = out / "grafana" / "mlops-serving-health.json"
    want = produced.read_text()
    produced.unlink()
    produced.symlink_to(target)  # at a path the build produces
    (out / "grafana" / "old.json").symlink_to(target)  # an owned path the build no longer makes
    manifest = out / MANIFEST
    manifest.write_text(manifest.read_text() + "grafana/old.json\n")
    assert run("check", "--out", str(out)).returncode == 1  # a link is not the file
    r = run("build", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert not produced.is_symlink() and produced.read_text() == want
    assert not (out / "grafana" / "old.json").exists()
    assert target.read_text() == "not yours\n"
    assert run("check", "--out", str(out)).returncode == 0


def test_lock_is_taken_on_the_resolved_folder(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "alias").symlink_to(real)
    fd = os.open(real, os.O_RDONLY)  # what a build into real/generated holds
    fcntl.flock(fd, fcntl.LOCK_EX)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen([sys.executable, "-m", "mlops_dash", "build", "-q", "--out",
                             str(tmp_path / "alias" / "generated")], cwd=ROOT, env=env,
                            stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(3)  # far longer than a build: it must be waiting for the lock
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert not (real / "generated").exists()
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert (real / "generated" / MANIFEST).is_file()


def test_out_given_as_a_link_builds_into_its_target(tmp_path):
    real = tmp_path / "real-out"
    (tmp_path / "out").symlink_to(real.name)
    assert run("build", "--out", str(tmp_path / "out")).returncode == 0
    assert (tmp_path / "out").is_symlink() and (real / MANIFEST).is_file()
    assert run("build", "--out", str(tmp_path / "out")).returncode == 0
    assert run("check", "--out", str(tmp_path / "out")).returncode == 0


def test_user_files_links_and_empty_folders_survive_a_swap(tmp_path, specs_copy):
    out = tmp_path / "generated"
    assert run("build", "--out", str(out)).returncode == 0
    (out / "notes.md").write_text("mine\n")
    (out / "grafana" / "README").write_text("mine too\n")
    (out / "empty").mkdir()
    (out / "deep" / "er").mkdir(parents=True)
    (out / "link").symlink_to("/etc/hostname")
    os.chmod(out / "notes.md", 0o600)
    variant(specs_copy)
    r = run("build", "--specs", str(specs_copy), "--out", str(out))
    assert r.returncode == 0, r.stderr
    snap = snapshot(out)
    assert snap["notes.md"][0] == "file" and snap["notes.md"][2] == "0o600"
    assert (out / "grafana" / "README").read_text() == "mine too\n"
    assert snap["empty"][0] == snap["deep/er"][0] == "dir"
    assert snap["link"] == ("link", "/etc/hostname")
    assert not (out / "grafana" / "mlops-cost-optimization.json").exists()
    assert not leftovers(out)


# -- atomicity ------------------------------------------------------------------------------


def _build(specs: Path, out: Path, *, fsize: int | None = None) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}

    def limit() -> None:  # in the child: a real RLIMIT_FSIZE (Python ignores SIGXFSZ: EFBIG)
        if fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    return subprocess.Popen([sys.executable, "-m", "mlops_dash", "build", "-q", "-j", "1",
                             "--specs", str(specs), "--out", str(out)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=limit, start_new_session=True)


def test_file_size_limit_leaves_the_previous_build_whole(tmp_path, two_trees):
    specs_a, want_a, specs_b, _ = two_trees
    out = tmp_path / "generated"
    assert run("build", "--specs", str(specs_a), "--out", str(out)).returncode == 0
    assert snapshot(out) == want_a
    # small files (alertmanager/, sorted first) fit, dashboards (~30 KB) do not
    proc = _build(specs_b, out, fsize=20_000)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err
    assert "cannot write output in" in err and "File too large" in err, err
    assert "Traceback" not in err
    assert snapshot(out) == want_a  # entirely the previous build
    assert not leftovers(out)
    assert run("check", "--specs", str(specs_a), "--out", str(out)).returncode == 0


def test_sigkill_at_random_points_leaves_one_whole_tree(tmp_path, two_trees):
    specs_a, want_a, specs_b, want_b = two_trees
    out = tmp_path / "generated"
    assert run("build", "--specs", str(specs_a), "--out", str(out)).returncode == 0
    start = time.monotonic()
    _build(specs_b, out).communicate(timeout=120)
    duration = time.monotonic() - start
    rng = random.Random(13)
    current, seen_stage, outcomes = "b", 0, set()
    for i in range(16):
        specs = specs_a if current == "b" else specs_b
        proc = _build(specs, out)
        if i % 2:  # anywhere in the process's life
            time.sleep(rng.uniform(0, duration * 1.1))
        else:  # while the new tree is being written (or swapped, or the old one deleted)
            deadline = time.monotonic() + 60
            while not leftovers(out) and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.0005)
            time.sleep(rng.uniform(0, 0.02))
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=60)
        got = snapshot(out)
        assert got in (want_a, want_b), f"kill {i}: a mixed tree"
        current = "a" if got == want_a else "b"
        outcomes.add(current)
        if leftovers(out):
            seen_stage += 1
        if leftovers(out) and seen_stage <= 2:
            # check notices what the killed build left beside the folder
            r = run("check", "--specs", str(specs_a if current == "a" else specs_b),
                    "--out", str(out))
            assert r.returncode == 1 and "stray: " in r.stderr, r.stderr
    assert seen_stage, "no kill landed while a tree was being written"
    # the next build removes the leftovers; then check is clean
    final = specs_a if current == "b" else specs_b
    r = run("build", "--specs", str(final), "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert not leftovers(out)
    assert snapshot(out) == (want_a if final == specs_a else want_b)
    assert run("check", "--specs", str(final), "--out", str(out)).returncode == 0


def test_stray_temporary_files_of_the_old_writer_are_reported_then_removed(tmp_path):
    out = tmp_path / "generated"
    assert run("build", "--out", str(out)).returncode == 0
    stray = out / "alertmanager" / ".alertmanager.yaml.k3j_9x0q"
    stray.write_text("half a file")
    mine = out / "alertmanager" / ".my-notes.swp"  # not beside an owned file: the user's
    mine.write_text("mine")
    r = run("check", "--out", str(out))
    assert r.returncode == 1 and f"stray: {stray}" in r.stderr, r.stderr
    assert ".my-notes" not in r.stderr
    r = run("build", "--out", str(out))
    assert r.returncode == 0 and "leftover" in r.stdout, r.stdout
    assert not stray.exists() and mine.read_text() == "mine"
    assert run("check", "--out", str(out)).returncode == 0


def test_swap_without_rename_exchange_recovers_a_kill_between_the_renames(
        tmp_path, tree, monkeypatch):
    """Where folders cannot be exchanged in one step, the old folder waits beside the new
    place; a build killed between the two renames has it put back by the next build."""
    out = tmp_path / "generated"
    outdir.write_tree(tree, out)
    before = snapshot(out)
    monkeypatch.setattr(outdir_swap, "_exchange", lambda a, b: False)
    changed = {**tree, "grafana/mlops-serving-health.json": "{}\n"}
    report = outdir.write_tree(changed, out)
    assert report.written == ["grafana/mlops-serving-health.json"]
    assert (out / "grafana/mlops-serving-health.json").read_text() == "{}\n"
    assert not leftovers(out)
    # a kill after the first rename: no folder, the old one beside it
    parked = tmp_path / ".generated.mlops-dash-old.x1"
    parked.mkdir()
    os.rename(out, parked / "tree")
    report = outdir.write_tree(changed, out)
    assert report.written == [] and not leftovers(out)
    assert snapshot(out)["grafana/mlops-serving-health.json"] != before[
        "grafana/mlops-serving-health.json"]


def test_unchanged_build_writes_nothing(tmp_path, tree):
    out = tmp_path / "generated"
    outdir.write_tree(tree, out)
    inode = out.stat().st_ino
    report = outdir.write_tree(tree, out)
    assert not report.written and not report.removed and len(report.unchanged) == len(tree)
    assert out.stat().st_ino == inode  # no swap


@pytest.mark.parametrize("rel", ["/etc/x", "../x", "a/../../x", "a//b", "./a", "a/", ""])
def test_tree_paths_outside_are_refused(tmp_path, rel):
    with pytest.raises(outdir.BuildError, match="refusing to write"):
        outdir.write_tree({rel: "x", "ok.txt": "y"}, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not (tmp_path / "x").exists()


def test_paths_equal_but_for_case_are_refused(tmp_path):
    """The last line of defence behind the spec checks (tests/testdata/invalid/collision-*)."""
    with pytest.raises(outdir.BuildError, match="case-insensitive"):
        outdir.write_tree({"runbooks/HighLatency.md": "a", "runbooks/Highlatency.md": "b"},
                          tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_check_waits_for_a_running_build(tmp_path):
    """check takes the lock shared: a build's staging folder is never reported as a leftover."""
    out = tmp_path / "generated"
    assert run("build", "--out", str(out)).returncode == 0
    staging = tmp_path / ".generated.mlops-dash-tmp.running"
    staging.mkdir()  # what a running build has beside the folder
    fd = os.open(tmp_path, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)  # ... while it holds the lock
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen([sys.executable, "-m", "mlops_dash", "check", "--out", str(out)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        time.sleep(3)
        assert proc.poll() is None, "check did not wait for the lock"
        staging.rmdir()  # the build finishes
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err



_FULL_DISK = r"""
import hashlib, json, os, subprocess, sys
from pathlib import Path
mnt, specs_a, specs_b, src = sys.argv[1:5]
out = os.path.join(mnt, "generated")
env = {**os.environ, "PYTHONPATH": src}
def build(specs):
    return subprocess.run([sys.executable, "-m", "mlops_dash", "build", "-q", "-j", "1",
                           "--specs", specs, "--out", out], env=env, capture_output=True,
                          text=True)
first = build(specs_a)
st = os.statvfs(mnt)
filler = os.path.join(mnt, "filler")
with open(filler, "wb") as fh:  # leave about 24 KB: a few small files fit, a dashboard does not
    fh.write(b"x" * max(0, st.f_bavail * st.f_frsize - 24 * 1024))
full = build(specs_b)
result = {"first": first.returncode, "full": full.returncode, "full_err": full.stderr,
          "after_full": sorted(os.listdir(mnt)), "tree_full": snapshot(Path(out))}
os.unlink(filler)
again = build(specs_b)
result.update(again=again.returncode, again_err=again.stderr, tree_again=snapshot(Path(out)))
print(json.dumps(result))
"""


def test_full_disk_leaves_the_previous_build_whole(tmp_path, two_trees):
    """A real ENOSPC: a small tmpfs in a private mount namespace (``unshare -rm``: gone with
    the process), filled but for a few KB before the second build."""
    unshare = shutil.which("unshare")
    assert unshare, "util-linux unshare is not installed"
    specs_a, want_a, specs_b, want_b = two_trees
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    script = tmp_path / "full_disk.py"
    script.write_text("from __future__ import annotations\nimport hashlib, os\n"
                      "from pathlib import Path\n" + inspect.getsource(snapshot) + _FULL_DISK)
    r = subprocess.run([unshare, "-rm", "sh", "-c",
                        f'mount -t tmpfs -o size=4m tmpfs "{mnt}" && exec "{sys.executable}" '
                        f'"{script}" "{mnt}" "{specs_a}" "{specs_b}" "{ROOT / "src"}"'],
                       capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["first"] == 0
    assert res["full"] == 2 and "No space left on device" in res["full_err"], res["full_err"]
    assert res["after_full"] == ["filler", "generated"]  # no staging folder left beside it
    assert {k: tuple(v) for k, v in res["tree_full"].items()} == want_a  # entirely the old
    assert res["again"] == 0, res["again_err"]
    assert {k: tuple(v) for k, v in res["tree_again"].items()} == want_b


def test_an_owned_file_may_become_a_folder_a_user_file_may_not(tmp_path):
    out = tmp_path / "out"
    outdir.write_tree({"a": "x", "b.txt": "y"}, out)
    outdir.write_tree({"a/c.txt": "z", "b.txt": "y"}, out)  # 'a' was ours: replaced
    assert (out / "a" / "c.txt").read_text() == "z"
    (out / "d").write_text("mine\n")
    with pytest.raises(outdir.EnvironmentProblem, match="is not a folder"):
        outdir.write_tree({"d/e.txt": "z", "b.txt": "y"}, out)
    assert (out / "d").read_text() == "mine\n" and not leftovers(out)


def test_the_containment_check_refuses_exactly_the_unnormalised_paths():
    """outdir_read.path_problem tells most paths by a quick look (no empty part, no part
    starting with a dot) and the rest by their parts: the same answer as the parts alone,
    on paths built of parts, separators and dots."""
    from mlops_dash.outdir_read import path_problem

    pieces = ["a", "b.yaml", ".", "..", "...", ".hidden", "x.", "", "/", "//", "\0"]
    rng = random.Random(7)
    for _ in range(20_000):
        rel = "".join(rng.choice(pieces) + rng.choice(["/", ""]) for _ in range(rng.randint(1, 5)))
        expected = (None if rel and not rel.startswith("/") and "\0" not in rel
                    and not any(p in ("", ".", "..") for p in rel.split("/")) else "refused")
        assert (path_problem(rel) is None) is (expected is None), repr(rel)
