"""Performance work that must not change behaviour: lazy imports, the libyaml fast paths, the
benchmark's synthetic specs. (Timings live in `make bench`, not here: no timed unit tests.)"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
import yaml
from conftest import ROOT, SPECS, SYNTH_DASHBOARDS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlops_dash import output, pipeline, yamlemit
from mlops_dash.spec import yamlsource
from mlops_dash.spec.loader import load_specs

HEAVY = ("grafanalib", "jsonschema", "pydantic", "promql_parser", "yaml", "jinja2")


def imported_modules(*args: str) -> set[str]:
    """Top-level modules a ``python -m mlops_dash ARGS`` process imports (``-X importtime``)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "mlops_dash", *args],
                       env=env, capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stderr[-2000:]
    names = set()
    for line in r.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return names


@pytest.mark.parametrize("args", [("--help",), ("build", "--help"), ("--version",)])
def test_help_does_not_import_heavy_modules(args):
    mods = imported_modules(*args)
    assert "click" in mods  # the probe sees imports at all
    assert not mods & set(HEAVY), sorted(mods & set(HEAVY))


def test_build_does_import_the_renderers(tmp_path):
    """The probe above is meaningful: a real build imports what --help must not."""
    mods = imported_modules("build", "-q", "--specs", str(SPECS), "--out", str(tmp_path / "o"))
    assert {"pydantic", "yaml", "jinja2"} <= mods
    assert "jsonschema" not in mods  # validation stays out of build's hot path
    assert "grafanalib" not in mods  # the dashboard JSON is built as plain data (issue 18)


# ------------------------------------------------------------------ YAML reading with libyaml


def _pure_python(text: bytes) -> tuple[object, dict[tuple[str | int, ...], tuple[int, int]]]:
    saved = yamlsource._FastLoader
    yamlsource._FastLoader = yamlsource._Loader
    try:
        data, smap = yamlsource.load_yaml(text, "f.yaml")
    finally:
        yamlsource._FastLoader = saved
    return data, smap.positions


@pytest.mark.parametrize("path", sorted(SPECS.glob("*.yaml")), ids=lambda p: p.name)
def test_libyaml_reading_gives_the_same_data_and_places(path):
    raw = path.read_bytes()
    data, smap = yamlsource.load_yaml(raw, "f.yaml")
    assert (data, smap.positions) == _pure_python(raw)


def test_libyaml_reading_of_tricky_documents():
    raw = ("a: é日本語x\nb:\n  c: ü 1\nlist:\n  - {x: 日本, y: [1, 2]}\n  - z: ~\n    w: 2\n"
           "d: 2001-01-01\ne: 0x1F\nf: 1_000\ng: =\nh: !!str 12\ni: |\n  x\n  y\n"
           "j: &anchor [1, 2]\nk: *anchor\nl: 'yes'\nm: yes\n").encode()
    data, smap = yamlsource.load_yaml(raw, "f.yaml")
    assert (data, smap.positions) == _pure_python(raw)
    assert data["g"] == "=" and data["h"] == "12" and data["m"] is True and data["l"] == "yes"
    assert smap.positions[("list", 1, "w")] == (7, 5)


def test_yaml_errors_keep_the_pure_python_message_and_place():
    with pytest.raises(Exception) as fast:
        yamlsource.load_yaml(b"a: 1\nb: [1, 2\nc: 3\n", "f.yaml")
    with pytest.raises(Exception) as slow:
        _pure_python(b"a: 1\nb: [1, 2\nc: 3\n")
    assert str(fast.value) == str(slow.value)
    assert str(fast.value).startswith("f.yaml:")


# ------------------------------------------------------------------ YAML writing with libyaml


def _pure_dump(data: object) -> str:
    return output._yaml_body(data, output._Dumper)


@pytest.mark.skipif(output._FastDumper is None, reason="PyYAML without libyaml: nothing to compare")
def test_generated_yaml_is_what_the_pure_python_emitter_writes(tree):
    yaml_files = [rel for rel in tree if rel.endswith((".yaml", ".yml"))]
    assert yaml_files
    for rel in yaml_files:
        data = yaml.safe_load(tree[rel])
        assert output.dump_yaml(data, header=False) == _pure_dump(data), rel
        output._yaml_body(data, output._FastDumper)  # the fast path is taken (no fallback)


_TEXT = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126) | st.just("\n"),
                max_size=30) | st.text(alphabet=st.characters(
                    min_codepoint=32, max_codepoint=0xFFFF, blacklist_categories=("Cs",)),
                    max_size=10) | st.sampled_from(
    ["yes", "~", "null", "1e3", "0o17", "- x", "a: b", "#c", "  x", "x  ", "x\n", "\n", "x\n\n",
     " x\ny", "|", "'", '"', "%x", "@x", "*x", "---", "...", "", "x\n  y\n", "x \ny", "=", "<<",
     "\ttab", "ü", "日本", "🙂", "\x85", "line\r\n", "\x00", "1 − x", "\u2028", "\ufeff"])
_KEY = _TEXT | st.sampled_from(["", "a\nb", "🙂"])
_LEAF = _TEXT | st.integers() | st.floats() | st.booleans() | st.none()
_DATA = st.dictionaries(_KEY, st.recursive(
    _LEAF, lambda c: st.lists(c, max_size=3) | st.dictionaries(_KEY, c, max_size=3),
    max_leaves=12), max_size=4)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(_DATA)
def test_dump_yaml_bytes_do_not_depend_on_libyaml(data):
    assert output.dump_yaml(data, header=False) == _pure_dump(data)


def test_generated_yaml_is_written_by_the_direct_writer(tree):
    """yamlemit writes every generated YAML file (no fallback), the bytes PyYAML writes."""
    yaml_files = [rel for rel in tree if rel.endswith((".yaml", ".yml"))]
    for rel in yaml_files:
        data = yaml.safe_load(tree[rel])
        if isinstance(data, dict) and data:
            assert yamlemit.dump(data) == _pure_dump(data), rel


@pytest.mark.parametrize("value", [
    "plain", "yes", "No", "on", "~", "null", "", "1", "0x1F", "1_000", "1e3", "2001-01-01",
    "- x", "-x", "-", "?", "? x", ":", ":x", "a:", "a: b", "a:b", "#c", "a #c", "a#c", "x ",
    " x", "---", "--x", "...", "..x", "'q'", "it's", '"d"', "%x", "@x", "`x", "!x", "&x",
    "*x", "|", ">", "[x]", "{x}", "a,b", "a[0]", "<<", "=", "\u00fc \u65e5\u672c", "\xa0x",
    "a\nb", "a\nb\n", "a\n\nb", "  a\nb", "a \nb", "a\n b", "\na", "a\nb ", "x" * 200,
    "12:30", "1.5", ".5", ".inf", "+1", "0o17", "TRUE", "y", "n", "a\u3000b", "a\tb",
])
@pytest.mark.parametrize("as_key", [False, True])
def test_direct_writer_scalars_are_pyyaml_s(value, as_key):
    for data in ({value: 1} if as_key else {"k": value},
                 {"a": [value, {"b": value}, [value]]}, {"a": {"b": {"c": [[value]]}}}):
        try:
            text = yamlemit.dump(data)
        except yamlemit.NotFastSafe:
            continue  # left to PyYAML: dump_yaml is compared with it above
        assert text == _pure_dump(data), data


@pytest.mark.parametrize("value", [0.1, 1e-05, 1e16, -0.0, 250.0, 2**64, -3, True, None, [],
                                   {}, [[]], [{}], {"x": []}])
def test_direct_writer_other_values_are_pyyaml_s(value):
    data = {"k": value, "l": [value, {"m": value}]}
    try:
        text = yamlemit.dump(data)
    except yamlemit.NotFastSafe:
        return
    assert text == _pure_dump(data)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(_DATA)
def test_direct_writer_bytes_are_pyyaml_s(data):
    try:
        text = yamlemit.dump(data)
    except yamlemit.NotFastSafe:
        return
    assert text == _pure_dump(data)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(_DATA, _KEY, st.dictionaries(_KEY, st.recursive(
    _LEAF, lambda c: st.lists(c, max_size=3) | st.dictionaries(_KEY, c, max_size=3),
    max_leaves=12), max_size=4))
def test_nesting_an_already_dumped_mapping_gives_dump_yaml_bytes(data, key, inner):
    # the PrometheusRule manifest reuses the plain rule file's YAML as its spec
    data = {k: v for k, v in data.items() if k != key} | {key: inner}
    body = output.dump_yaml(inner, header=False)
    assert output.dump_yaml_nesting(data, body) == output.dump_yaml(data)
    assert output.dump_yaml_nesting(data, body, header=False) == _pure_dump(data)


def test_dump_yaml_keeps_non_ascii_text_readable():
    data = {"summary": "🙂 ü 日本", "body": "a\n\n"}
    text = output.dump_yaml(data)
    assert "🙂 ü 日本" in text
    assert text == "# " + output.cv.GENERATED_HEADER + "\n" + _pure_dump(data)


# ------------------------------------------------------------------ JSON writing with orjson


def _pure_json(data: object) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


@pytest.mark.skipif(output._orjson is None, reason="orjson not installed: nothing to compare")
def test_generated_json_is_what_json_dumps_writes(tree):
    json_files = [rel for rel in tree if rel.endswith(".json")]
    assert json_files
    for rel in json_files:
        data = json.loads(tree[rel])
        assert output._orjson_agrees(data), rel  # the fast path is taken
        assert tree[rel] == output.dump_json(data) == _pure_json(data), rel


_JSON_LEAF = (st.text() | st.integers() | st.floats() | st.booleans() | st.none()
              | st.sampled_from([1e-05, 1e16, 1e15, 0.0001, -0.0, 2**64, 2**63 - 1, "\ud800",
                                 "\x7f\u2028\x1f", "🙂"]))
_JSON = st.recursive(_JSON_LEAF, lambda c: st.lists(c, max_size=3)
                     | st.dictionaries(st.text(max_size=5), c, max_size=3), max_leaves=15)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(_JSON)
def test_dump_json_bytes_do_not_depend_on_orjson(data):
    assert output.dump_json(data) == _pure_json(data)


def _holds_null(data):
    if isinstance(data, dict):
        return any(v is None or _holds_null(v) for v in data.values())
    if isinstance(data, list):
        return any(v is None or _holds_null(v) for v in data)
    return False


@settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(_JSON, max_size=4) | st.dictionaries(st.text(max_size=3), _JSON, max_size=4))
def test_the_dashboard_walk_finds_the_nulls_and_what_orjson_would_write_differently(data):
    """The Grafana render looks for nulls and for what orjson writes unlike json in one walk
    (output.scan_json) and dump_json then skips its own: the same answers as each alone, and
    the same bytes."""
    null, agrees = output.scan_json(data)
    assert null is _holds_null(data)
    assert agrees is output._orjson_agrees(data)
    if agrees:
        assert output.dump_json(data, agreed=True) == _pure_json(data)


def test_dump_json_of_other_types_is_left_to_json():
    assert output.dump_json({"t": (1, 2.5)}) == _pure_json({"t": (1, 2.5)})
    with pytest.raises(TypeError):
        output.dump_json({"when": object()})


# ------------------------------------------------------------------ synthetic specs


def test_synthetic_specs_build_with_unique_names(tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import synth_specs
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    synth_specs.write_specs(12, tmp_path / "specs")
    spec_set = load_specs(tmp_path / "specs")  # validates and cross-checks
    dashboards = spec_set.dashboard_models()
    shipped = [d for d in load_specs(SPECS).dashboard_models() if d.uid != "mlops-overview"]
    assert len(dashboards) == 12
    assert len({d.uid for d in dashboards}) == 12
    alerts = [a.name for d in dashboards for a in d.alerts]
    assert len(alerts) == len(set(alerts))
    records = [r.record for d in dashboards for r in d.recording_rules]
    assert len(records) == len(set(records))
    groups = [[d for d in dashboards if d.uid.endswith(f"-g000{g}")] for g in range(3)]
    assert [len(g) for g in groups] == [5, 5, 2]

    def mix(ds):
        return (sorted(p.type for d in ds for p in d.panels),
                sorted(a.signal.shape for d in ds for a in d.alerts))

    # every full group of five is a copy of the shipped shape: same panel and alert-shape mix
    assert mix(groups[0]) == mix(shipped) == mix(groups[1])
    assert len([a for d in groups[0] for a in d.alerts]) == len([a for d in shipped for a in d.alerts])
    uids = {d.uid for d in dashboards}
    assert all(link.dashboard in uids for d in dashboards for link in d.links if link.dashboard)
    tree = pipeline.render_tree(spec_set)
    dashboard_files = [rel for rel in tree if rel.startswith("grafana/")]
    assert len(dashboard_files) == 12
    assert {json.loads(tree[rel])["uid"] for rel in dashboard_files} == uids


# ------------------------------------------------------------------ dashboard JSON without grafanalib


def _nulls(obj: object, path: tuple = ()) -> list[tuple]:
    if obj is None:
        return [path]
    if isinstance(obj, dict):
        return [p for k, v in obj.items() for p in _nulls(v, (*path, k))]
    if isinstance(obj, list):
        return [p for i, v in enumerate(obj) for p in _nulls(v, (*path, i))]
    return []


def test_dashboard_json_has_no_null_but_the_base_threshold_step(tree):
    """render/grafana.py drops nulls only in targets and links (where other specs' values land):
    every other null would be one of its own, and Grafana reads only the base step's as -inf."""
    dashboards = [rel for rel in tree if rel.startswith("grafana/") and rel.endswith(".json")]
    assert dashboards
    for rel in dashboards:
        nulls = _nulls(json.loads(tree[rel]))
        assert nulls, rel  # the base steps are there
        for path in nulls:
            assert path[0] == "panels" and path[2:] == (
                "fieldConfig", "defaults", "thresholds", "steps", 0, "value"), (rel, path)


def test_bench_times_a_case_and_its_reference_in_turns(tmp_path):
    """benchmarks/bench.py: a ratio target's two commands alternate run by run (warm-up
    included), so a slow spell of the shared machine slows both sides of the ratio."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import bench
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    log = tmp_path / "order"

    def writes(letter: str) -> list[str]:
        return [sys.executable, "-c", f"open({str(log)!r}, 'a').write({letter!r})"]

    results = bench.measure_together([bench.Case("a", writes("a")), bench.Case("b", writes("b"))],
                                     dict(os.environ), tmp_path, runs=3)
    assert log.read_text() == "ab" * 4
    assert [r.case for r in results] == ["a", "b"]
    assert all(len(r.wall) == len(r.cpu) == 3 for r in results)


def test_a_build_runs_without_cyclic_collections_and_turns_them_back_on(monkeypatch,
                                                                         tmp_path):
    """The build runs with the cyclic collector off (gctuning) and turns it back on: after a
    build, and after a refused one; one that was off stays off."""
    import gc

    from mlops_dash.errors import SpecErrors

    seen = []
    real = pipeline.read_folder

    def spy(*args, **kwargs):
        seen.append(gc.isenabled())
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "read_folder", spy)
    assert gc.isenabled()
    assert pipeline.build_trees(SPECS)[0][1]
    assert seen == [False] and gc.isenabled()
    (tmp_path / "broken.yaml").write_text("apiVersion: mlops-dash/v1\nkind: Nonsense\n")
    with pytest.raises(SpecErrors):
        pipeline.build_into(tmp_path, tmp_path / "out")
    assert seen == [False, False] and gc.isenabled()
    gc.disable()
    try:
        pipeline.build_trees(SPECS)
        assert not gc.isenabled()
    finally:
        gc.enable()


GARBAGE = """
import gc, json, sys
from pathlib import Path
from mlops_dash import pipeline
gc.collect()
gc.disable()
pipeline.build_into(Path(sys.argv[1]), Path(sys.argv[2]), jobs=1)
print(json.dumps({"unreachable": gc.collect()}))
"""


def test_a_build_leaves_few_cycles_for_the_collector(synth, tmp_path):
    """What running without the cyclic collector costs: the objects in cycles a build of the
    synthetic set (50 dashboards, in one process) leaves unreachable: ~70 a dashboard (1,000
    dashboards: 69,693, against the millions of objects the build creates and frees)."""
    import subprocess

    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    r = subprocess.run([sys.executable, "-c", GARBAGE, str(synth), str(tmp_path / "out")],
                       env=env, capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stderr
    unreachable = json.loads(r.stdout)["unreachable"]
    assert unreachable < 200 * SYNTH_DASHBOARDS, unreachable


def test_ascii_safety_is_the_control_characters_and_del():
    """yamlemit's ASCII checks (bytes.translate) refuse what libyaml will not write as it is
    (C0 controls and DEL; a line feed only on one line), every character alone and inside
    text, and nothing else."""
    for code in range(128):
        c = chr(code)
        control = code < 0x20 or code == 0x7F
        for text in (c, f"ab{c}", f"{c}x\ny", "x" * 20_000 + c):
            assert yamlemit.unsafe_line(text) is (control or "\n" in text)
            assert yamlemit.unsafe_text(text) is (control and c != "\n")


_ODD = st.sampled_from(["a", " ", "\n", "\t", "\r", "\x00", "\x1f", "\x7f", "\x80", "\x85",
                        "\x9f", "\xa0", "é", "—", "\u2028", "\u2029", "\ud800", "\udfff",
                        "\ufeff", "\ufffe", "\uffff", "\U0001f600", "€"])


@settings(max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(_ODD | st.text(max_size=4), max_size=8).map("".join))
def test_safety_beyond_ascii_is_the_regex_answer(text):
    """Text with non-ASCII characters is searched only after its safe ASCII bytes are
    deleted: the answer is the full regex's (the characters libyaml writes as they are), for
    controls, line feeds, separators, surrogates, the BOM, non-characters and astral ones."""
    whole = re.compile(f"[{yamlemit._UNSAFE}]")
    assert yamlemit.unsafe_text(text) is (whole.search(text) is not None)
    assert yamlemit.unsafe_line(text) is (whole.search(text) is not None or "\n" in text)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(_JSON)
def test_compact_json_bytes_do_not_depend_on_orjson(data):
    """A manifest's size (kubernetes.object_size) is counted on the bytes json writes."""
    try:
        want: bytes | type = json.dumps(data, separators=(",", ":"),
                                        ensure_ascii=False).encode()
    except UnicodeEncodeError:  # a lone surrogate: no client can send it either
        want = UnicodeEncodeError
    if want is UnicodeEncodeError:
        with pytest.raises(UnicodeEncodeError):
            output.compact_json(data)
    else:
        assert output.compact_json(data) == want


def test_merging_trees_refuses_a_path_two_renderers_produce():
    tree = {"a.yaml": "1", "b.yaml": "2"}
    output.merge_tree(tree, {"c.yaml": "3"})
    assert list(tree) == ["a.yaml", "b.yaml", "c.yaml"]
    with pytest.raises(AssertionError, match=r"two renderers produce \['b.yaml'\]"):
        output.merge_tree(tree, {"d.yaml": "4", "b.yaml": "5"})


def test_the_command_line_collects_less_often_and_a_server_goes_back(monkeypatch):
    """cli.main runs the process with gctuning's thresholds from the start (the imports of the
    spec models collect ~80 times otherwise); the exporter and simulate, which serve until
    stopped, go back to the thresholds the process started with."""
    import gc

    from mlops_dash import cli, gctuning

    start = gc.get_threshold()
    monkeypatch.setattr(gctuning, "_AT_START", None)
    monkeypatch.setattr(sys, "argv", ["mlops-dash", "--version"])
    try:
        with pytest.raises(SystemExit) as exited:
            cli.main()
        assert exited.value.code == 0
        assert gc.get_threshold() == gctuning.BUILD_THRESHOLDS != start
        gctuning.for_a_long_run()
        assert gc.get_threshold() == start
    finally:
        gc.set_threshold(*start)
