"""The fixtures every layerbox-runtime test uses: `rt`, the runtime with a state directory of the
test's own (whatever a test leaves is deleted by id), and `bundle`, the busybox root with
`spec`'s config.json (edit bundle.config, then write())."""

from __future__ import annotations

import os

import pytest

from test_runtime import Runtime, make_bundle


@pytest.fixture
def rt(tmp_path):
    root = tmp_path / "state"
    root.mkdir()
    r = Runtime(str(root))
    yield r
    for cid in os.listdir(root):
        if not cid.startswith("."):
            r("delete", "--force", cid)


@pytest.fixture
def bundle(tmp_path, busybox_rootfs, rt):
    return make_bundle(tmp_path / "bundle", busybox_rootfs, rt)
