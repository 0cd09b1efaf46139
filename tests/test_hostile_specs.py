"""Hostile and mistaken input that is not a spec edit (tests/testdata/invalid/ holds those):
Prometheus' duration grammar, Go templates as promtool parses them, PromQL error columns, and
environment problems reported as exit 2 with a message, never as "internal error"."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, SPECS, require_tool
from test_cli import run

from mlops_dash import promql
from mlops_dash.gotemplate import FUNCTIONS, NEWER_FUNCTIONS, template_error
from mlops_dash.spec.base import duration_error, duration_seconds

# ------------------------------------------------------------------------- durations

# prometheus/common model/time.go ParseDuration: "0" alone, units largest to smallest, each
# once, at most 2^63-1 ns; checked against the installed promtool below.
VALID = ["0", "0s", "1ms", "30s", "5m", "1h30m", "1d12h", "2w3d", "1y", "1y2w3d4h5m6s7ms",
         "292y", "106751d"]
INVALID = ["", "5m1h", "1m1m", "30s5m", "1ms1s", "1.5h", "-1m", "1M", "5 m", "m", "1h 5m",
           "999999999999d", "293y", "106752d"]


@pytest.mark.parametrize("value", VALID)
def test_durations_prometheus_accepts(value):
    assert duration_error(value) is None


@pytest.mark.parametrize("value", INVALID)
def test_durations_prometheus_refuses(value):
    assert duration_error(value)


def test_duration_seconds():
    assert duration_seconds("1h30m") == 5400
    assert duration_seconds("1y2w") == 365 * 86400 + 14 * 86400
    assert duration_seconds("1m500ms") == 60.5
    assert duration_seconds("0") == 0


def test_duration_grammar_agrees_with_promtool(tmp_path):
    """Every case above is judged as promtool judges a rule's `for` (the real parser)."""
    promtool = require_tool("promtool")
    verdicts = {}
    for value in [*VALID, *INVALID]:
        if value == "":
            continue  # promtool leaves an empty `for` out; the spec refuses it
        rules = {"groups": [{"name": "g", "rules": [
            {"alert": "A", "expr": "up == 0", "for": value}]}]}
        f = tmp_path / "r.yaml"
        f.write_text(yaml.safe_dump(rules))
        r = subprocess.run([promtool, "check", "rules", str(f)], capture_output=True,
                           text=True, timeout=60, check=False)
        verdicts[value] = r.returncode == 0
    assert verdicts == {v: duration_error(v) is None for v in verdicts}


# ------------------------------------------------------------------------- Go templates

TEMPLATES_OK = [
    "plain text", "{{ $value }}", "{{ $labels.namespace }}/{{ $labels.pod }}",
    "{{ $value | humanizePercentage }}", '{{ $value | printf "%.1f" }}',
    "{{ if gt $value 1.0 }}big{{ else }}small{{ end }}",
    "{{ range $k, $v := $labels }}{{ $k }}={{ $v }} {{ end }}", "{{/* note */}}x",
    "{{- $value -}}", "{{ with $labels.model }}{{ . }}{{ end }}", "{{ $x := 1 }}{{ $x }}",
    '{{ query "up" | first | value }}', "{{ $externalURL }}", "{{ `raw` }}", "{{ nil }}",
    "{{ (humanize $value) }}", "{{ range $labels }}{{ break }}{{ end }}",
    '{{- $value | printf "%.1f" -}}', "{{ $labels.a | toUpper }}{{ $value|humanize }}",
]
TEMPLATES_BAD = [
    ("value {{ $value ", "unclosed action"), ("{{ humanizePercentag $value }}", "not defined"),
    ("{{ $val }}", "undefined variable"), ("{{ if $value }}x", "unexpected EOF"),
    ("{{ end }}", "unexpected {{end}}"), ("{{/* c }}", "unclosed comment"),
    ('{{ "abc }}', "unterminated quoted string"), ("{{}}", "missing value"),
    ("{{ $value | 3 }}", "non executable"), ("{{ (humanize $value }}", "unclosed left paren"),
    ("{{ humanize $value) }}", "unexpected right paren"), ("{{ break }}", "outside"),
    ("{{ $value & 1 }}", "unrecognized character"), ("{{ toDuration 1 }}", "before 3.6"),
    ("{{ with $x := 1 }}{{ end }}{{ $x }}", "undefined variable"),
    ("{{-$value}}", "bad number syntax"), ("{{ $value-}}", "bad number syntax"),
    ("{{ $value }}{{ $labels.x | humanizePercentag }}", "not defined"),
]


@pytest.mark.parametrize("text", TEMPLATES_OK)
def test_templates_promtool_accepts(text):
    assert template_error(text) is None


@pytest.mark.parametrize(("text", "why"), TEMPLATES_BAD)
def test_templates_promtool_refuses(text, why):
    problem = template_error(text)
    assert problem is not None and why in str(problem), problem


def _promtool_accepts_templates(tmp_path: Path, texts: list[str]) -> dict[str, bool]:
    promtool = require_tool("promtool")
    out = {}
    for i, text in enumerate(texts):
        rules = {"groups": [{"name": "g", "rules": [
            {"alert": "A", "expr": "up == 0", "annotations": {"summary": text}}]}]}
        f = tmp_path / f"t{i}.yaml"
        f.write_text(yaml.safe_dump(rules))
        r = subprocess.run([promtool, "check", "rules", str(f)], capture_output=True,
                           text=True, timeout=60, check=False)
        out[text] = r.returncode == 0
    return out


def test_template_parse_agrees_with_promtool(tmp_path):
    """The same verdicts as promtool's own template parse (rulefmt testTemplateParsing)."""
    texts = TEMPLATES_OK + [t for t, _ in TEMPLATES_BAD]
    assert _promtool_accepts_templates(tmp_path, texts) == {
        t: template_error(t) is None for t in texts}


def test_function_set_is_what_promtool_registers(tmp_path):
    """Each function we accept is defined for promtool; the newer ones are not (2.42)."""
    calls = [f"{{{{ {name} }}}}" for name in sorted(FUNCTIONS) if name not in
             ("break", "continue")]
    accepted = _promtool_accepts_templates(tmp_path, calls)
    # parse-only: a function called without its arguments still parses
    assert all(accepted.values()), [t for t, ok in accepted.items() if not ok]
    newer = _promtool_accepts_templates(tmp_path, [f"{{{{ {n} }}}}" for n in NEWER_FUNCTIONS])
    assert not any(newer.values())


def test_template_parse_is_cheap():
    import time

    text = "{{ $labels.a }} " * 200 + "{{ $value | humanizePercentage }}"
    start = time.perf_counter()
    for _ in range(100):
        assert template_error(text) is None
    assert time.perf_counter() - start < 2.0


# ------------------------------------------------------------------------- PromQL columns


@pytest.mark.parametrize(("expr", "at"), [
    ("sum(rate(x[5m])", 3), ('x{a="b"', 1), ("rate(x[5m1h])", 7), ('x{a=~"("}', 6),
    ("sum(x) )", 7), ('"abc', 0),
])
def test_promql_error_offset(expr, at):
    with pytest.raises(promql.PromQLSyntaxError) as exc:
        promql.parse(expr)
    assert promql.error_offset(expr, str(exc.value)) == at


# ------------------------------------------------------------------------- environment


def _no_bug(r: subprocess.CompletedProcess[str]) -> None:
    assert "internal error" not in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_schema_into_a_missing_folder_is_exit_2(tmp_path):
    r = run("schema", "--out", str(tmp_path / "missing" / "x.json"))
    assert r.returncode == 2
    _no_bug(r)
    assert "missing/x.json: No such file or directory" in r.stderr


def test_openmetrics_into_a_missing_folder_is_exit_2(tmp_path):
    r = run("simulate", "--no-serve", "--openmetrics-out", str(tmp_path / "no" / "h.om"))
    assert r.returncode == 2
    _no_bug(r)
    assert "h.om: No such file or directory" in r.stderr


def test_history_must_be_a_duration():
    for bad in ("bogus", "5m1h", "0s"):
        r = run("simulate", "--no-serve", "--history", bad, "--openmetrics-out", "/dev/null")
        assert r.returncode == 2, bad
        _no_bug(r)
        assert "Invalid value for '--history'" in r.stderr and repr(bad) in r.stderr


def test_non_utf8_manifest_is_a_placed_error_for_build_and_check(tmp_path):
    """The manifest is the build's own file: a broken line is an error placed in it (exit 1,
    nothing deleted), for check as for build (see also tests/test_hostile_output.py)."""
    out = tmp_path / "generated"
    assert run("build", "-q", "--out", str(out)).returncode == 0
    (out / ".mlops-dash-files").write_bytes(b"grafana/x.json\n\xff\xfe\n")
    for command in ("build", "check"):
        r = run(command, "--out", str(out))
        assert r.returncode == 1, command
        _no_bug(r)
        assert ".mlops-dash-files:2:1: the build's file list is not UTF-8" in r.stderr, command


def test_diff_with_a_very_long_name_is_exit_2():
    r = run("diff", "HEAD", "a" * 5000)
    assert r.returncode == 2
    _no_bug(r)
    assert "File name too long" in r.stderr and len(r.stderr) < 500


def test_specs_given_twice_is_refused():
    r = run("build", "--specs", str(SPECS), "--specs", str(ROOT / "examples"))
    assert r.returncode == 2
    assert "Invalid value for '--specs': given 2 times" in r.stderr


def test_unknown_scenario_suggests_the_nearest():
    r = run("simulate", "--no-serve", "--scenario", "HighLatncy")
    assert r.returncode == 2
    assert "unknown scenario 'HighLatncy' (did you mean 'HighLatency'?)" in r.stderr


# ------------------------------------------------------------------------- paper cuts


def test_one_typo_is_one_error(specs_copy):
    f = specs_copy / "serving-health.yaml"
    f.write_text(f.read_text().replace("    severity: warning\n", "    severtiy: warning\n", 1))
    r = run("build", "--specs", str(specs_copy), "--out", str(specs_copy.parent / "out"))
    assert r.returncode == 1
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1, r.stderr
    assert "unknown field 'severtiy' (did you mean 'severity'?)" in errors[0]


def test_a_missing_field_without_a_near_miss_is_still_reported(specs_copy):
    f = specs_copy / "serving-health.yaml"
    f.write_text(f.read_text().replace("    severity: warning\n", "    colour: warning\n", 1))
    r = run("build", "--specs", str(specs_copy), "--out", str(specs_copy.parent / "out"))
    assert "required field 'severity' is missing" in r.stderr
    assert "unknown field 'colour'" in r.stderr


def test_lint_formats_carry_errors_found_while_rendering(specs_copy):
    """A problem found only when the promtool cases are derived (a catalogue metric without
    the alert's labels) appears in json and github output, not as build text on stderr."""
    f = specs_copy / "metrics.yaml"
    old = ("labels: [namespace, horizontalpodautoscaler]}\n"
           "  - {name: kube_horizontalpodautoscaler_status_current")
    f.write_text(f.read_text().replace(old, old.replace(", horizontalpodautoscaler]", "]")))
    import json

    r = run("lint", "--specs", str(specs_copy), "--format", "json")
    assert r.returncode == 1
    findings = json.loads(r.stdout)
    assert any("cannot derive promtool cases for ScalingIssue" in x["message"] and x["line"]
               for x in findings), r.stdout
    assert "error:" not in r.stderr
    r = run("lint", "--specs", str(specs_copy), "--format", "github")
    assert "::error file=" in r.stdout and "ScalingIssue" in r.stdout


# ------------------------------------------------------------------------- labels in alert text


@pytest.mark.parametrize(("expr", "kept"), [
    ("x", None), ("sum(x)", set()), ("sum by (a, b) (rate(x[5m]))", {"a", "b"}),
    ("sum without (a) (x)", None), ("max by (a) (x) > 3", {"a"}), ("3 < max by (a) (x)", {"a"}),
    ("histogram_quantile(0.9, sum by (le, a) (rate(x[5m])))", {"a"}),
    ("sum by (a, b) (x) / on (a) group_left (c) y", {"a", "b", "c"}),
    ("sum by (a, b) (x) / on (a) sum by (a) (y)", {"a"}),
    ("sum by (a, b) (x) / ignoring (b) sum by (a) (y)", {"a"}),
    ("(time() - max by (p, r) (x)) / on (p) group_left () y > 2", {"p", "r"}),
    ("sum by (a) (x) or sum by (b) (y)", {"a", "b"}), ("topk(3, sum by (a) (x))", {"a"}),
    ('label_replace(sum by (a) (x), "d", "$1", "a", "(.*)")', {"a", "d"}),
    ('count_values("v", sum by (a) (x))', {"v"}), ("vector(1)", set()),
])
def test_kept_labels(expr, kept):
    from mlops_dash.lint.label_checks import kept_labels

    assert kept_labels(promql.parse(expr)) == (None if kept is None else frozenset(kept))


# ------------------------------------------------------------------------- README and --help


def test_readme_command_table_lists_every_option():
    """Each command's row in the README's Commands table names every option `--help` shows
    (long or short form), so the two cannot drift apart."""
    import re

    from mlops_dash.cli import cli

    rows = {}
    for line in (ROOT / "README.md").read_text().splitlines():
        if line.startswith("| `mlops-dash "):
            usage = line.split("`")[1]
            rows[usage.split()[1]] = set(re.findall(r"-{1,2}[A-Za-z][\w-]*", usage))
    assert set(rows) == set(cli.commands), sorted(rows)
    missing = [f"{name} {'/'.join(p.opts)}" for name, command in cli.commands.items()
               for p in command.params
               if p.param_type_name == "option" and not rows[name] & set(p.opts)]
    assert not missing, missing


def test_plain_exponent_numbers_are_numbers(specs_copy, tmp_path):
    """YAML 1.1 (PyYAML) reads `3e2` and `1.0e3` as text; YAML 1.2 and a reader read numbers:
    strict numbers still take them (only text such as a quoted "0.02" is refused)."""
    f = specs_copy / "serving-health.yaml"
    f.write_text(f.read_text().replace("threshold: 300", "threshold: 3e2")
                 .replace("name: ErrorRateSpike\n", "name: ErrorRateSpike\n    threshold: 2.0e-2\n"))
    out = tmp_path / "out"
    r = run("build", "-q", "--specs", str(specs_copy), "--out", str(out))
    assert r.returncode == 0, r.stderr
    rules = (out / "prometheus" / "mlops-serving-health.rules.yaml").read_text()
    assert ") > 300\n" in rules and ") > 0.02\n" in rules


SERIES_OK = ["1 2 3", "0+1x10", "10-2x3", "1x5", "_ _x3 stale 1", "1e3+1.5e1x2", "-1 +2",
             "Inf -Inf NaN", ".5+.5x2"]
SERIES_BAD = ["1 bogus", "1+x3", "0+1x", "a+1x2", "1,2"]


def test_series_notation_agrees_with_promtool(tmp_path):
    """Hand-written input_series values are refused at load exactly when promtool refuses."""
    from pydantic import ValidationError

    from mlops_dash.spec.models import SeriesSample

    promtool = require_tool("promtool")
    (tmp_path / "rules.yaml").write_text("groups: []\n")
    for values in SERIES_OK + SERIES_BAD:
        test = {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": [{
            "interval": "1m", "input_series": [{"series": 'up{job="x"}', "values": values}],
            "promql_expr_test": []}]}
        (tmp_path / "t.yaml").write_text(yaml.safe_dump(test))
        r = subprocess.run([promtool, "test", "rules", "t.yaml"], cwd=tmp_path,
                           capture_output=True, text=True, timeout=60, check=False)
        try:
            SeriesSample(series='up{job="x"}', values=values)
            ours = True
        except ValidationError:
            ours = False
        assert ours == (r.returncode == 0) == (values in SERIES_OK), (values, r.stdout)
