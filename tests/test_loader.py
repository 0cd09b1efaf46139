"""The loader: YAML traps refused, errors with file/line/column/field, version checked first."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_dash.errors import SpecError, SpecErrors
from mlops_dash.spec.loader import load_document, load_specs
from mlops_dash.spec.yamlsource import load_yaml


def _err(text: str | bytes, tmp_path: Path) -> SpecError:
    f = tmp_path / "x.yaml"
    f.write_bytes(text.encode() if isinstance(text, str) else text)
    with pytest.raises((SpecError, SpecErrors)) as info:
        load_document(f, "x.yaml")
    exc = info.value
    return exc.errors[0] if isinstance(exc, SpecErrors) else exc


def test_positions_are_recorded_for_nested_fields():
    data, smap = load_yaml(b"a:\n  b:\n    - c: 1\n      d: 2\n", "f.yaml")
    assert data == {"a": {"b": [{"c": 1, "d": 2}]}}
    assert smap.locate(("a", "b", 0, "d")) == (4, 7)
    assert smap.locate(("a", "b", 0, "missing")) == (3, 7)


def test_places_are_worked_out_only_when_a_problem_needs_them():
    """A build that finds no problem keeps no place of any value (half the memory of a loaded
    spec set); a problem found later (here: by a check after loading) is still placed."""
    import pickle

    from mlops_dash import pipeline
    from mlops_dash.spec.loader import load_specs as load

    root = Path(__file__).resolve().parent.parent
    spec_set = load(root / "specs")
    pipeline.render_tree(spec_set)
    docs = [spec_set.platform, spec_set.catalogue, *spec_set.dashboards]
    # a dashboard with template instances keeps its file's map under the expanded one
    assert all(getattr(doc.source, "_base", doc.source)._positions is None for doc in docs)
    doc = spec_set.dashboards[0]
    again = pickle.loads(pickle.dumps(doc.source))  # as it comes back from a worker
    err = doc.source.error(("alerts", 1, "for"), "too short")
    text = (root / "specs" / Path(doc.path).name).read_text().splitlines()
    name = doc.model.alerts[1].name
    assert text[err.line - 1].strip().startswith("for:")
    assert name in "\n".join(text[:err.line]) and err.path == "alerts[1].for"
    assert again.positions == doc.source.positions


def test_duplicate_key_is_refused_with_both_lines(tmp_path):
    err = _err("apiVersion: mlops-dash/v1\nkind: Dashboard\nkind: Platform\n", tmp_path)
    assert err.line == 3 and "duplicate key 'kind'" in err.message and "line 2" in err.message


def test_alias_bomb_is_bounded(tmp_path):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 10)}]")
    err = _err("\n".join(lines) + "\n", tmp_path)
    assert "alias bomb" in err.message


def test_non_utf8_is_refused(tmp_path):
    err = _err(b"apiVersion: mlops-dash/v1\nkind: \xff\xfe\n", tmp_path)
    assert "UTF-8" in err.message and err.line == 2


def test_tab_indentation_is_refused(tmp_path):
    err = _err("apiVersion: mlops-dash/v1\nkind: Dashboard\npanels:\n\t- id: x\n", tmp_path)
    assert "tab" in err.message and err.line == 4


def test_empty_file_is_refused(tmp_path):
    assert "empty" in _err("# only a comment\n", tmp_path).message


def test_list_at_top_is_refused(tmp_path):
    assert "found a list" in _err("- a\n- b\n", tmp_path).message


def test_unknown_version_is_rejected_before_anything_else(tmp_path):
    err = _err("apiVersion: mlops-dash/v2\nkind: Nonsense\nfoo: bar\n", tmp_path)
    assert "unsupported apiVersion 'mlops-dash/v2'" in err.message and err.line == 1


def test_typo_gets_a_suggestion_and_a_place(specs_copy):
    f = specs_copy / "serving-health.yaml"
    text = f.read_text().replace("    severity: warning\n    panel: request-latency",
                                 "    severtiy: warning\n    panel: request-latency")
    f.write_text(text)
    with pytest.raises(SpecErrors) as info:
        load_specs(specs_copy)
    messages = [e.format() for e in info.value.errors]
    assert any("alerts[0].severtiy" in m and "did you mean 'severity'" in m for m in messages)
    line = text.splitlines().index("    severtiy: warning") + 1
    assert any(f"serving-health.yaml:{line}:5:" in m for m in messages)


def test_unknown_metric_is_a_cross_file_error(specs_copy):
    f = specs_copy / "serving-health.yaml"
    f.write_text(f.read_text().replace("mlops_model_cold_starts_total{",
                                       "mlops_model_cold_start_total{"))
    with pytest.raises(SpecErrors) as info:
        load_specs(specs_copy)
    msg = info.value.errors[0].format()
    assert "not in the metric catalogue" in msg and "mlops_model_cold_starts_total" in msg


def test_alert_panel_reference_must_exist(specs_copy):
    f = specs_copy / "serving-health.yaml"
    f.write_text(f.read_text().replace("panel: request-latency", "panel: request-latncy"))
    with pytest.raises(SpecErrors) as info:
        load_specs(specs_copy)
    assert "did you mean 'request-latency'" in info.value.errors[0].message


def test_duplicate_alert_names_across_files(specs_copy):
    f = specs_copy / "cost-optimization.yaml"
    f.write_text(f.read_text().replace("- name: StorageGrowth", "- name: HighLatency").replace(
        "[CostAnomaly, LowGPUUtilization, StorageGrowth]", "[CostAnomaly, LowGPUUtilization]"))
    with pytest.raises(SpecErrors) as info:
        load_specs(specs_copy)
    assert any("alert name 'HighLatency' is also used" in e.message for e in info.value.errors)


def test_alert_reading_a_recording_rule_must_share_its_interval(specs_copy):
    f = specs_copy / "pipeline-reliability.yaml"
    f.write_text(f.read_text().replace("    for: 15m\n    interval: 5m\n", "    for: 15m\n"))
    with pytest.raises(SpecErrors) as info:
        load_specs(specs_copy)
    assert any("never stale" in e.message for e in info.value.errors)


def test_bare_merge_key_as_a_value_is_a_spec_error_not_a_crash(specs_copy):
    f = specs_copy / "serving-health.yaml"
    f.write_text(f.read_text().replace("team: ml-serving", "team: <<"))
    with pytest.raises(SpecErrors) as info:
        load_specs(specs_copy)
    assert any(e.path == "team" for e in info.value.errors)


def test_spec_files_are_named_as_before_relative_below_the_current_folder(tmp_path, monkeypatch):
    """parsing._Shown resolves the current folder and each parent folder once; the names are
    those of resolving every file: relative when given relative or below the current folder
    (through links too), else as given."""
    import os

    from mlops_dash.spec.parsing import _Shown

    def resolved_each(f: Path) -> str:  # the per-file rule _Shown replaces
        if not f.is_absolute():
            return os.path.relpath(f)
        try:
            f.resolve().relative_to(Path.cwd().resolve())
            return os.path.relpath(f)
        except ValueError:
            return str(f)

    here, away = tmp_path / "here", tmp_path / "away"
    (here / "specs").mkdir(parents=True)
    away.mkdir()
    (here / "specs" / "a.yaml").write_text("a: 1\n")
    (away / "b.yaml").write_text("b: 1\n")
    (here / "specs" / "to-away.yaml").symlink_to(away / "b.yaml")
    (away / "to-here.yaml").symlink_to(here / "specs" / "a.yaml")
    (here / "linked").symlink_to(away)
    monkeypatch.chdir(here)
    files = [Path("specs/a.yaml"), here / "specs" / "a.yaml", away / "b.yaml",
             here / "specs" / "to-away.yaml", away / "to-here.yaml", here / "linked" / "b.yaml",
             here / "specs" / ".." / "specs" / "a.yaml", Path("../away/b.yaml")]
    shown = _Shown()
    assert [shown(f) for f in files] == [resolved_each(f) for f in files]
    assert [shown(f) for f in files[:4]] == ["specs/a.yaml", "specs/a.yaml",
                                             str(away / "b.yaml"), str(here / "specs" /
                                                                       "to-away.yaml")]
