"""layerbox.shape: the checks every outside JSON document goes through, and their messages."""

from __future__ import annotations

import pytest

from layerbox import shape
from layerbox.errors import ImageLoadError, LayerboxError

D = "sha256:" + "a" * 64


@pytest.mark.parametrize("doc,want,message", [
    (["x", 1], [{"Config": str}], "[0]: a string ('x') where an object was expected"),
    ([{"Layers": [123]}], [{"Layers": [str]}], "[0].Layers[0]: a number (123) where a string was expected"),
    ({"RepoTags": "abc"}, {"RepoTags": [str]}, "RepoTags: a string ('abc') where an array was expected"),
    ({}, {"Config": shape.Req(str)}, "Config: missing"),
    ({"Config": None}, {"Config": shape.Req(str)}, "Config: null where a string was expected"),
    ({"size": True}, {"size": int}, "size: a boolean where an integer was expected"),
    ({"size": 1.5}, {"size": int}, "size: a number (1.5) where an integer was expected"),
    ({"d": "sha256:XYZ"}, {"d": shape.Digest}, "d: a string ('sha256:XYZ') where a sha256 digest was expected"),
    ({"l": {"a": 1}}, {"l": shape.MapOf(str)}, "l['a']: a number (1) where a string was expected"),
    ({"manifests": [{"digest": D, "size": -1, "platform": {"os": 5}}]}, shape.INDEX,
     "manifests[0].platform.os: a number (5) where a string was expected"),
    ({"config": {"digest": D, "size": 1}, "layers": {"x": 1}}, shape.MANIFEST,
     "layers: an object where an array was expected"),
    ({"rootfs": {"diff_ids": [D]}, "config": {"Cmd": "sh"}}, shape.IMAGE_CONFIG,
     "config.Cmd: a string ('sh') where an array was expected"),
    ({"rootfs": {"diff_ids": [D]}, "history": [{"empty_layer": "yes"}]}, shape.IMAGE_CONFIG,
     "history[0].empty_layer: a string ('yes') where a boolean was expected"),
])
def test_a_mismatch_names_the_place_and_what_was_expected(doc, want, message):
    with pytest.raises(ImageLoadError) as e:
        shape.check(doc, want, "doc.json", ImageLoadError, "invalid archive: ")
    assert str(e.value) == f"invalid archive: doc.json: {message}"


def test_what_matches_passes_and_extra_keys_and_nulls_are_allowed():
    doc = {"rootfs": {"type": "layers", "diff_ids": [D]}, "config": {"Env": None, "Labels": {"a": None}},
           "unknown": [1, {"x": 2}], "history": [{"created": "2024-01-01T00:00:00Z"}]}
    assert shape.check(doc, shape.IMAGE_CONFIG, "config") is doc


@pytest.mark.parametrize("data,why", [
    (b"[{", "is not valid JSON"), (b"", "is not valid JSON"), (b"\xff\xfe", "is not valid JSON (not UTF-8)"),
    (b"[1] x", "is not valid JSON"),
    # an id of its own: the data as an id would go into PYTEST_CURRENT_TEST, too big an environment
    pytest.param(b"[" * 100_000 + b"]" * 100_000, "is nested too deeply", id="deep"),
])
def test_bad_json_is_an_error_not_a_traceback(data, why):
    with pytest.raises(LayerboxError) as e:
        shape.parse(data, "manifest.json")
    assert str(e.value) == f"manifest.json {why}"
