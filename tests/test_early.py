"""spec/early.py: on a folder parsed by worker processes the dashboards are validated while the
parse goes on, and the spec set is the one validated after the parse, in every case: the early
results are used only when they are what spec_set would compute (the same platform and
libraries, no Environment, no problem), else the folder is validated as before."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mlops_dash import pipeline
from mlops_dash.errors import SpecErrors
from mlops_dash.spec import loader


def _read(specs: Path) -> loader.Folder:
    return loader.read_folder(specs, jobs=2)


def _same_set(a: loader.SpecSet, b: loader.SpecSet) -> None:
    assert [d.path for d in a.dashboards] == [d.path for d in b.dashboards]
    assert [d.model for d in a.dashboards] == [d.model for d in b.dashboards]
    assert a.platform_model == b.platform_model and a.catalogue_model == b.catalogue_model


def test_dashboards_are_validated_during_the_parse_and_give_the_same_set(synth):
    folder = _read(synth)
    assert folder.early is not None and not folder.early.failed
    dashboards = [data for data, _smap in folder.parsed if data.get("kind") == "Dashboard"]
    assert set(folder.early.done) == {id(data) for data in dashboards}
    early = folder.spec_set(None)
    folder.early = None  # the same folder validated after the parse, as without early.py
    _same_set(early, folder.spec_set(None))
    # and as one process reads it (no worker, so no early validation)
    alone = loader.read_folder(synth, jobs=1)
    assert alone.early is None
    _same_set(early, alone.spec_set(None))


def test_a_changed_platform_after_the_look_ahead_is_not_trusted(synth):
    folder = _read(synth)
    assert folder.early is not None
    platform = next(data for data, _smap in folder.parsed if data.get("kind") == "Platform")
    assert folder.early.usable(folder.parsed)
    platform["parameters"] = {**platform.get("parameters", {}), "extra": {"type": "string",
                                                                          "value": "x"}}
    assert not folder.early.usable(folder.parsed)


def test_problems_are_reported_as_without_early_validation(synth_copy):
    """A dashboard that fails validation (and one with an unknown parameter) sends the whole
    folder through spec_set's validation: the same messages, in the same order."""
    files = sorted(synth_copy.glob("mlops-*.yaml"))
    files[3].write_text(files[3].read_text().replace("\ntitle: ", "\ntitel: ", 1))
    text = files[-2].read_text()
    assert "${namespaces.serving}" in text or "${namespaces.training}" in text
    files[-2].write_text(text.replace("${namespaces.", "${namespaces.nosuch_", 1))
    folder = _read(synth_copy)
    assert folder.early is not None and folder.early.failed
    with pytest.raises(SpecErrors) as early:
        folder.spec_set(None)
    folder.early = None
    with pytest.raises(SpecErrors) as after:
        folder.spec_set(None)
    assert [e.format() for e in early.value.errors] == [e.format() for e in after.value.errors]
    found = [e.format() for e in early.value.errors]
    assert any("titel" in e for e in found) and any("nosuch_" in e for e in found)


def test_no_look_ahead_without_one_recognisable_platform_or_with_environments(synth_copy):
    platform = synth_copy / "platform.yaml"
    text = platform.read_text()
    platform.write_text(text.replace("\nkind: Platform", "\nkind:   'Platform'  # the platform", 1))
    assert _read(synth_copy).early is not None  # quotes, spacing and comments are recognised
    platform.write_text(text.replace("\nkind: Platform", "\nkind: >-\n  Platform", 1))
    folder = _read(synth_copy)
    assert folder.early is None  # a kind written otherwise: no look-ahead, the same set
    _same_set(folder.spec_set(None), loader.read_folder(synth_copy, jobs=1).spec_set(None))
    platform.write_text(text)
    second = synth_copy / "zz-platform.yaml"
    shutil.copy(platform, second)
    assert _read(synth_copy).early is None  # two platforms: spec_set reports the second
    with pytest.raises(SpecErrors) as info:
        pipeline.build_trees(synth_copy, jobs=2)
    assert any("a second Platform spec" in e.format() for e in info.value.errors)
    second.unlink()
    (synth_copy / "prod.yaml").write_text(
        "apiVersion: mlops-dash/v1\nkind: Environment\nname: prod\n")
    folder = _read(synth_copy)
    assert folder.early is None and "prod" in folder.environments
