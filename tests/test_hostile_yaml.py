"""Hostile YAML: merge-key chains and huge lists are refused early (bounded time and memory)
with their real reason; explicit tags are refused wherever they stand. Bounds are checked by
the peak memory of a real ``build`` process (never by wall time)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import ROOT
from mlops_dash.errors import SpecError
from mlops_dash.spec.yamlsource import MAX_NODES, load_yaml

HEAD = "apiVersion: mlops-dash/v1\nkind: Dashboard\n"


def _err(text: str) -> SpecError:
    with pytest.raises(SpecError) as info:
        load_yaml(text.encode(), "f.yaml")
    return info.value


def _build_peak_mb(specs, tmp_path) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run a real build in a child of a fresh helper process, so ru_maxrss of RUSAGE_CHILDREN
    is that build's alone."""
    code = (
        "import resource, subprocess, sys\n"
        f"r = subprocess.run([sys.executable, '-m', 'mlops_dash', 'build', '-j', '1', '--specs',"
        f" {str(specs)!r}, '--out', {str(tmp_path / 'out')!r}], capture_output=True, text=True)\n"
        "sys.stderr.write(r.stderr)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
        "sys.exit(r.returncode)\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=300, check=False)
    return r, int(r.stdout.strip().splitlines()[-1]) / 1024


def test_million_item_list_is_refused_early_with_the_real_reason(specs_copy, tmp_path):
    (specs_copy / "zz-huge.yaml").write_text(HEAD + "x: [" + ",".join(["1"] * 1_000_000) + "]\n")
    r, peak = _build_peak_mb(specs_copy, tmp_path)
    assert r.returncode == 1, r.stderr
    # the 200,001st node: five before the list, the list, then item 199,995 at column 399,991
    assert (f"zz-huge.yaml:3:399991: document has more than {MAX_NODES} keys and "
            "values; a spec file holds far fewer") in r.stderr, r.stderr
    assert "alias bomb" not in r.stderr
    assert peak < 150, f"{peak:.0f} MB (664 MB before: the whole list was composed)"


def test_long_merge_chain_is_refused_with_bounded_memory(specs_copy, tmp_path):
    lines = [HEAD + "chain:", "  - &a0 {k0: 1}"]
    n = 0
    while sum(map(len, lines)) < 250_000:  # 357 KB took 25 s and 444 MB
        n += 1
        lines.append(f"  - &a{n} {{<<: *a{n - 1}, k{n}: 1}}")
    (specs_copy / "zz-merge.yaml").write_text("\n".join(lines) + "\n")
    r, peak = _build_peak_mb(specs_copy, tmp_path)
    assert r.returncode == 1, r.stderr
    assert "through merge keys (<<) and aliases" in r.stderr, r.stderr
    assert peak < 200, f"{peak:.0f} MB"


def test_merge_of_merges_is_counted_before_it_is_copied():
    """Each level merges the previous one ten times: 10**8 pairs if copied before counting."""
    lines = ["a0: &a0 {" + ", ".join(f"k{i}: 1" for i in range(10)) + "}"]
    for lvl in range(1, 9):
        lines.append(f"a{lvl}: &a{lvl} {{<<: [{', '.join([f'*a{lvl - 1}'] * 10)}], "
                     f"own{lvl}: 1}}")
    data, _ = load_yaml((HEAD + "\n".join(lines) + "\n").encode(), "f.yaml")
    # merged keys are held once: the merge of ten copies is the keys of one, plus its own
    assert len(data["a8"]) == 10 + 8


def test_merge_keys_follow_yaml_override_rules():
    data, _ = load_yaml((HEAD + "base: &b {k: 1, j: 2}\nother: &o {k: 9, z: 3}\n"
                         "a: {<<: *b, k: 5}\nb: {<<: [*b, *o]}\n").encode(), "f.yaml")
    assert data["a"] == {"k": 5, "j": 2}  # own keys override merged ones
    assert data["b"] == {"k": 1, "j": 2, "z": 3}  # an earlier source overrides a later one
    err = _err(HEAD + "a: {k: 1, k: 2}\n")
    assert "duplicate key 'k'" in err.message  # a mapping's own duplicates are still refused
    err = _err(HEAD + "a: {<<: [x]}\n")
    assert err.line == 3 and "a merge key (<<) takes a mapping" in err.message


@pytest.mark.parametrize("text,tag", [
    ("title: !custom Serving\n", "!custom"),
    ("title: !!binary U2VydmluZw==\n", "tag:yaml.org,2002:binary"),
    ("title: !!python/object/apply:os.system ls\n", "python/object/apply"),
    ("!custom title: x\n", "!custom"),  # on a key
    ("labels: {a: !!float 1}\n", "tag:yaml.org,2002:float"),
    ("comparison: !=\n", "'!='"),  # YAML reads an unquoted != as a tag (value dropped before)
    ("x: !!timestamp 2024-01-01\n", None),  # the tag the text has anyway: changes nothing
    ("x: !!str 2024-01-01\n", None),  # YAML's own way to write a plain string
])
def test_explicit_tags_on_scalars_are_refused(text, tag):
    if tag is None:
        data, _ = load_yaml((HEAD + text).encode(), "f.yaml")
        assert data["x"] == "2024-01-01"
        return
    err = _err(HEAD + text)
    assert err.line == 3 and "unsupported YAML tag" in err.message and tag in err.message
    assert "an explicit tag" in err.message


def test_plain_values_that_look_typed_are_not_tags():
    data, _ = load_yaml((HEAD + "a: yes\nb: '12'\nc: 2024-13-45\nd: <<\ne: ~\nf: 1.5\n"
                         "g: '!='\n").encode(), "f.yaml")
    assert data == {"apiVersion": "mlops-dash/v1", "kind": "Dashboard", "a": True, "b": "12",
                    "c": "2024-13-45", "d": "<<", "e": None, "f": 1.5, "g": "!="}


def test_rlimit_bounds_hold_in_this_process():
    """The reading needs no more than a bounded address space: a merge bomb under a 600 MB
    address-space limit still ends in a placed error, not MemoryError."""
    lines = ["a0: &a0 {" + ", ".join(f"k{i}: 1" for i in range(50)) + "}"]
    for lvl in range(1, 30):
        lines.append(f"a{lvl}: &a{lvl} {{<<: *a{lvl - 1}, " +
                     ", ".join(f"l{lvl}x{i}: 1" for i in range(50)) + "}")
    text = HEAD + "\n".join(lines) + "\nlist: [" + ", ".join(
        f"*a{29}" for _ in range(200)) + "]\n"
    code = ("import resource, sys\n"
            "resource.setrlimit(resource.RLIMIT_AS, (600 << 20, 600 << 20))\n"
            "from mlops_dash.spec.yamlsource import load_yaml\n"
            "from mlops_dash.errors import SpecError\n"
            "try:\n    load_yaml(sys.stdin.buffer.read(), 'f.yaml')\n"
            "except SpecError as e:\n    print(e)\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    r = subprocess.run([sys.executable, "-c", code], input=text.encode(), env=env,
                       capture_output=True, timeout=120, check=False)
    assert r.returncode == 0, r.stderr.decode()
    assert b"document expands to more than" in r.stdout
