"""yamlresolve.install_fast_resolve: the loaders and dumpers it patches (memoised ``resolve``,
C no-ops for ``descend_resolver``/``ascend_resolver``) read and write exactly what PyYAML's own
classes do: here the loaders, on the shipped specs and on generated documents (tag, value,
style and marks of every node); the dumper's bytes are compared with PyYAML's in
tests/test_performance.py."""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlops_dash.spec import yamlsource
from mlops_dash.yamlresolve import install_fast_resolve

ROOT = Path(__file__).resolve().parent.parent


class _Plain(yaml.SafeLoader):
    """PyYAML's pure-Python safe loader without the ``=`` value tag, as yamlsource's."""


class _PlainC(yaml.CSafeLoader):  # type: ignore[misc,name-defined]
    """libyaml's, likewise (its node styles differ from the pure-Python parser's)."""


_Plain.yaml_implicit_resolvers = yamlsource._Loader.yaml_implicit_resolvers
_PlainC.yaml_implicit_resolvers = yamlsource._Loader.yaml_implicit_resolvers


def _shape(node: yaml.Node | None) -> object:
    if node is None:
        return None
    marks = (node.start_mark.line, node.start_mark.column, node.end_mark.line,
             node.end_mark.column)
    if isinstance(node, yaml.ScalarNode):
        return ("scalar", node.tag, node.value, node.style, marks)
    if isinstance(node, yaml.SequenceNode):
        return ("seq", node.tag, [_shape(n) for n in node.value], marks)
    return ("map", node.tag, [(_shape(k), _shape(v)) for k, v in node.value], marks)


def _composed(text: str, loader: type) -> object:
    ldr = loader(text)
    try:
        return _shape(ldr.get_single_node())
    finally:
        ldr.dispose()


def test_the_patched_loaders_compose_the_shipped_specs_as_pyyaml_does():
    files = sorted((ROOT / "specs").glob("*.yaml"))
    assert files
    for f in files:
        text = f.read_text(encoding="utf-8")
        assert _composed(text, yamlsource._FastLoader) == _composed(text, _PlainC), f
        assert _composed(text, yamlsource._Loader) == _composed(text, _Plain), f


SCALARS = st.one_of(
    st.sampled_from(["yes", "No", "on", "off", "~", "null", "1_000", "0o17", "0x1F", "1e3",
                     "1:20", ".inf", "-.NaN", "2024-01-02", "= ", "'q'", "a: b", "- x", "#c"]),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
            max_size=12),
    st.integers(), st.floats(allow_nan=False), st.booleans(), st.none())
DOCS = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.text(alphabet="abcxyz_", min_size=1, max_size=6), inner, max_size=4)),
    max_leaves=25)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(DOCS, st.sampled_from([False, True]))
def test_generated_documents_compose_as_pyyaml_does(data, flow):
    text = yaml.safe_dump({"doc": data}, default_flow_style=flow, allow_unicode=True)
    assert _composed(text, yamlsource._FastLoader) == _composed(text, _PlainC)
    assert _composed(text, yamlsource._Loader) == _composed(text, _Plain)


def test_install_refuses_a_class_with_path_resolvers():
    class WithPath(yaml.SafeLoader):
        pass

    WithPath.add_path_resolver("tag:yaml.org,2002:str", ["a"], yaml.ScalarNode)
    try:
        install_fast_resolve(WithPath)
    except AssertionError:
        return
    raise AssertionError("installed over a path resolver")
