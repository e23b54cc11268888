"""Reclaiming what a killed process left in the store (see layerbox.store, "Crashes").

Loaded only when there is something to reclaim: a staging dir of a process that is gone.
Kinds of staging that stand for more than their own files:

- ``create-<owner>-<cid>``: a container being created; its name may already point at it.
- ``rm-<owner>-<cid>``: a container being removed (its dir moved out of sight first); its name
  may still point at it.
- ``run-<owner>-<cid>``: a build step's container, which its build removes after the step: a
  killed build's container goes with its staging.
"""

from __future__ import annotations

import os

from layerbox.store import Store, owner


def reclaim_staging(store: Store, names: list[str]) -> list[str]:
    """Removes the dead staging dirs `names` of tmp/; returns those this process removed."""
    from layerbox import _core

    done = []
    for n in names:
        kind, _pid, _start, what = (n.rsplit("-", 3) + ["", "", "", ""])[:4]
        if kind == "run" and _busy(store, what):
            continue  # someone (maybe this process) is working on that container: later
        # Taken by one rename first: of two processes reclaiming at once, one works on it.
        mine = os.path.join(store.tmp, f"reclaim-{owner()}-{os.urandom(8).hex()}")
        try:
            os.rename(os.path.join(store.tmp, n), mine)
        except OSError:
            continue  # gone already, or something odd (a mount on it): system check says
        try:
            if kind in ("create", "rm"):
                _release_name(store, what, mine)
            elif kind == "run":
                _remove_container(store, what)
            _core.remove_tree(mine)
        except OSError:
            # Reclaiming never fails the command that happened to take the lock; what is
            # left is dead staging still, for the next one or `system check --repair`.
            continue
        done.append(n)
    return done


def _release_name(store: Store, cid: str, cdir: str) -> None:
    """Drops the name that points at container `cid` (whose dir was never published or is on
    its way out), unless the container exists after all."""
    if len(cid) != 64 or os.path.isdir(os.path.join(store.containers, cid)):
        return
    candidates = []
    try:
        from layerbox import _util

        name = (_util.read_json(os.path.join(cdir, "config.json")).get("Name") or "").lstrip("/")
        if name:
            candidates = [name]
    except (OSError, ValueError, AttributeError):
        pass
    if not candidates:
        try:
            candidates = os.listdir(store.names)
        except FileNotFoundError:
            return
    for n in candidates:
        link = os.path.join(store.names, n)
        try:
            if os.readlink(link) == cid:
                os.unlink(link)
        except OSError:
            pass


def _busy(store: Store, cid: str) -> bool:
    """Whether the container's lock is held (by anyone, this process included)."""
    from layerbox import _util

    return _util.flock_held(os.path.join(store.containers, cid))


def _remove_container(store: Store, cid: str) -> None:
    from layerbox.container.engine import ContainerEngine
    from layerbox.errors import NotFound

    if len(cid) != 64 or not os.path.isdir(os.path.join(store.containers, cid)):
        return
    try:
        ContainerEngine(store).remove(cid, force=True, volumes=True)
    except NotFound:
        pass
