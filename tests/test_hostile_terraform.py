"""Terraform interpolation injection: text from specs lands in escalation.tf.json as literals that
the real ``terraform`` reads back unchanged (never evaluated); only our own references are
interpolations. Terraform evaluates every JSON string as a template (hashicorp/hcl
``json/spec.md``; ``hclsyntax/spec.md``, "Template Expressions": ``$${`` and ``%%{`` escape)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest

from mlops_dash import conventions as cv
from mlops_dash import pipeline
from mlops_dash.output import TerraformRef, dump_terraform_json

HOSTILE = 'ML ${file(\\"/etc/hostname\\")} %{ if true }x%{ endif }'  # as written in YAML
LITERAL = HOSTILE.replace('\\"', '"')  # the text the spec holds
OUR_REF = re.compile(r"\$\{(?:data\.)?pagerduty_[a-z_]+\.[a-z0-9_]+\.id\}")


def _strings(data):
    if isinstance(data, str):
        yield data
    elif isinstance(data, dict):
        for k, v in data.items():
            yield k
            yield from _strings(v)
    elif isinstance(data, list):
        for v in data:
            yield from _strings(v)


@pytest.fixture()
def hostile_tf(specs_copy):
    f = specs_copy / "platform.yaml"
    text = f.read_text()
    for old, new in [
        ("    service: ML Platform\n", f'    service: "{HOSTILE}"\n'),
        ('    description: PagerDuty service "ML Platform" (Events API v2)\n',
         f'    description: "{HOSTILE} description"\n'),
        ("{name: ML platform lead, target: ml-platform-lead,",
         f'{{name: "{HOSTILE} lead", target: "{HOSTILE} schedule",'),
    ]:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    f.write_text(text)
    return pipeline.build_tree(specs_copy)[cv.PAGERDUTY_TERRAFORM_PATH]


def test_only_our_references_are_interpolations(hostile_tf):
    for s in _strings(json.loads(hostile_tf)):
        if OUR_REF.fullmatch(s):
            continue
        rest = s.replace("$${", "").replace("%%{", "")
        assert "${" not in rest and "%{" not in rest, s


def test_real_terraform_reads_spec_text_back_unchanged(hostile_tf, tmp_path):
    terraform = shutil.which("terraform")
    assert terraform, "terraform is not installed"
    literals = sorted({s for s in _strings(json.loads(hostile_tf))
                       if not OUR_REF.fullmatch(s) and ("$" in s or "%" in s)})
    escaped = LITERAL.replace("${", "$${").replace("%{", "%%{")
    assert any(escaped in s for s in literals)
    # the strings exactly as written into escalation.tf.json, evaluated by terraform itself
    work = tmp_path / "tf"
    work.mkdir()
    (work / "main.tf.json").write_text(json.dumps(
        {"locals": {f"s{i}": s for i, s in enumerate(literals)}}))
    (tmp_path / "terraformrc").write_text("")
    env = {**os.environ, "TF_CLI_CONFIG_FILE": str(tmp_path / "terraformrc"),
           "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1", "HOME": str(tmp_path)}
    expr = "jsonencode([" + ", ".join(f"local.s{i}" for i in range(len(literals))) + "])"
    r = subprocess.run([terraform, "console"], input=expr + "\n", cwd=work, env=env,
                       capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 0, r.stderr
    evaluated = json.loads(json.loads(r.stdout.strip().splitlines()[-1]))
    assert evaluated == [s.replace("$${", "${").replace("%%{", "%{") for s in literals]
    assert any(LITERAL in s for s in evaluated)  # the hostile text, not the hostname
    assert not any(open("/etc/hostname").read().strip() + " " in s for s in evaluated
                   if LITERAL not in s)


def test_the_writer_escapes_every_string_keys_included():
    text = dump_terraform_json({"a ${x}": ["%{y}", {"k": "${z}"}], "ref": TerraformRef("p.q.id"),
                                "n": 3})
    assert json.loads(text) == {"a $${x}": ["%%{y}", {"k": "$${z}"}], "ref": "${p.q.id}", "n": 3}
