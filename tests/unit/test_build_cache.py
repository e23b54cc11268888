"""The build cache's keys and index (layerbox.builder.cache): what a key depends on, and entries
that outlive their image."""

from __future__ import annotations

import os

import pytest

from layerbox.builder.cache import BuildCache, step_key
from layerbox.store import Store

PARENT = "sha256:" + "a" * 64
CONFIG = {"architecture": "amd64", "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"]},
          "created": "2024-01-01T00:00:00Z", "history": [{"created_by": "x"}], "os": "linux",
          "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "b" * 64]}}


def key(**change):
    args = {"parent": PARENT, "created_by": "/bin/sh -c #(nop)  ENV A=1", "config": CONFIG,
            "extra": ""}
    args.update(change)
    return step_key(args["parent"], args["created_by"], args["config"], args["extra"])


def test_same_inputs_same_key():
    assert key() == key()
    assert len(key()) == 64 and int(key(), 16) >= 0


@pytest.mark.parametrize("change", [
    {"parent": "sha256:" + "c" * 64},
    {"parent": ""},  # FROM scratch
    {"created_by": "/bin/sh -c #(nop)  ENV A=2"},
    {"created_by": "|1 V=x /bin/sh -c echo"},  # a build arg in scope
    {"config": dict(CONFIG, config={"Env": ["PATH=/bin"], "Cmd": ["bash"]})},
    {"config": dict(CONFIG, author="someone")},
    {"config": dict(CONFIG, rootfs={"type": "layers", "diff_ids": []})},
    {"extra": "chmod=755"},
])
def test_every_input_changes_the_key(change):
    assert key(**change) != key()


def test_time_and_history_are_not_part_of_the_key():
    later = dict(CONFIG, created="2030-01-01T00:00:00Z", history=[{"created_by": "y"}])
    assert key(config=later) == key()


def test_fields_cannot_run_into_each_other():
    assert step_key("ab", "c", {}, "") != step_key("a", "bc", {}, "")


def _add_image(store: Store, image_id: str) -> None:
    os.makedirs(store.images, exist_ok=True)
    with open(store.image_record(image_id), "w") as f:
        f.write("{}")


def test_index_round_trip_and_stale_entries(tmp_path):
    store = Store(str(tmp_path))
    cache = BuildCache(store)
    image = "sha256:" + "d" * 64
    assert cache.lookup(key()) is None
    _add_image(store, image)
    cache.put(key(), image)
    assert cache.lookup(key()) == image
    assert BuildCache(store).lookup(key()) == image  # another process sees it
    # the image went (rmi): a miss, and the entry is dropped
    os.unlink(store.image_record(image))
    assert cache.lookup(key()) is None
    assert not os.path.exists(os.path.join(cache.dir, key()))
    assert [n for n in os.listdir(cache.dir) if ".tmp." in n] == []


def test_a_garbled_entry_is_a_miss(tmp_path):
    store = Store(str(tmp_path))
    cache = BuildCache(store)
    os.makedirs(cache.dir)
    with open(os.path.join(cache.dir, key()), "w") as f:
        f.write("not an id")
    assert cache.lookup(key()) is None
    assert cache.clear() == 0
