"""`diff`: what a container changed against its image, from its overlay upper dir (C++)."""

from __future__ import annotations

import os

# docker's ChangeType numbers, as the API and the SDK's Container.diff() return them.
KINDS = {"C": 0, "A": 1, "D": 2}


def changes(engine, ref: str) -> list[tuple[str, str]]:
    """(kind, path) pairs: "A", "C" or "D" and the absolute path, in docker's order."""
    from layerbox import _core

    c = engine.get(ref)
    lowers = engine.layer_dirs(c)
    return _core.list_changes(os.path.join(c.dir, "upper"), lowers)


def diff(engine, ref: str) -> list[dict]:
    """The SDK's shape: [{"Path": "/etc", "Kind": 0}, ...]."""
    return [{"Path": p, "Kind": KINDS[k]} for k, p in changes(engine, ref)]
