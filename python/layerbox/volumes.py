"""Local volumes: volumes/<name>/_data in the store, made by `volume create` or on first use by
`run -v NAME:/path` (and anonymous ones, named by a random id, for `-v /path`)."""

from __future__ import annotations

import os

from layerbox import _core, _util
from layerbox.errors import Conflict, InvalidArgument, NotFound
from layerbox.store import Store


def _valid(name: str) -> bool:
    return bool(name) and name[0].isalnum() and all(c.isalnum() or c in "_.-" for c in name)


class Volumes:
    def __init__(self, store: Store):
        self.store = store

    def _dir(self, name: str) -> str:
        return os.path.join(self.store.volumes, name)

    def users(self) -> dict:
        """volume name -> ids of the containers that mount it."""
        out: dict[str, list] = {}
        try:
            ids = os.listdir(self.store.containers)
        except FileNotFoundError:
            return out
        for cid in ids:
            try:
                cfg = _util.read_json(os.path.join(self.store.containers, cid, "config.json"))
            except (OSError, ValueError):
                continue  # a container removed meanwhile: it uses no volume
            for m in cfg.get("Mounts") or ():
                if m.get("Type") == "volume" and m.get("Name"):
                    out.setdefault(m["Name"], []).append(cid)
        return out

    def names(self) -> list[str]:
        try:
            return sorted(os.listdir(self.store.volumes))
        except FileNotFoundError:
            return []

    def list(self, filters: dict | None = None) -> list[dict]:
        """`volume ls`: docker's filters, values of one key OR'd, keys AND'd: dangling
        (true/false: used by no container), name (a regular expression searched in the name,
        as docker's), label (KEY or KEY=VALUE), driver (exact)."""
        import re

        filters = filters or {}
        for k, vals in filters.items():
            if k not in ("dangling", "name", "label", "driver"):
                raise InvalidArgument(f"invalid filter '{k}'")
            if k == "dangling":
                for v in vals:
                    if v.lower() not in ("true", "false", "1", "0"):
                        raise InvalidArgument(f"invalid filter 'dangling={v}'")
        names = [re.compile(v) for v in filters.get("name", ())] if "name" in filters else None
        used = self.users() if "dangling" in filters else {}
        out = []
        for n in self.names():
            try:
                doc = self.inspect(n)
            except NotFound:
                continue  # removed meanwhile
            if names is not None and not any(r.search(n) for r in names):
                continue
            if "driver" in filters and doc["Driver"] not in filters["driver"]:
                continue
            if "label" in filters and not all(_label_match(doc["Labels"], v) for v in filters["label"]):
                continue
            if "dangling" in filters:
                want = {v.lower() in ("true", "1") for v in filters["dangling"]}
                if (n not in used) not in want:
                    continue
            out.append(doc)
        return out

    def inspect(self, name: str) -> dict:
        d = self._dir(name)
        if not os.path.isdir(d):
            raise NotFound(f"get {name}: no such volume")
        meta = {}
        try:
            meta = _util.read_json(os.path.join(d, "meta.json"))
        except (OSError, ValueError):
            pass  # a volume without its metadata (made by hand or a crash): shown without it
        return {
            "CreatedAt": meta.get("CreatedAt") or _util.rfc3339(int(os.stat(d).st_mtime)),
            "Driver": "local",
            "Labels": meta.get("Labels") or {},
            "Mountpoint": os.path.join(d, "_data"),
            "Name": name,
            "Options": {},
            "Scope": "local",
        }

    def create(self, name: str | None = None, labels: dict | None = None) -> dict:
        self.store.ensure()
        name = name or os.urandom(32).hex()
        if not _valid(name):
            raise InvalidArgument(f'create {name}: "{name}" includes invalid characters for a local '
                                  "volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed")
        d = self._dir(name)
        if not os.path.isdir(d):
            tmp = self.store.mkdtemp("volume")
            os.mkdir(os.path.join(tmp, "_data"), 0o755)
            _util.write_atomic(os.path.join(tmp, "meta.json"), _util.dump_json(
                {"CreatedAt": _util.now_rfc3339(), "Labels": labels or {}}))
            os.chmod(tmp, 0o755)
            try:
                os.rename(tmp, d)
            except OSError:
                _core.remove_tree(tmp)  # created meanwhile by another process: docker's "exists" is fine
            else:
                _volume_event(self.store, "create", name)
        return self.inspect(name)

    def remove(self, name: str, force: bool = False) -> None:
        if not os.path.isdir(self._dir(name)):
            if force:
                return
            raise NotFound(f"get {name}: no such volume")
        used = self.users().get(name)
        if used:
            raise Conflict(f"remove {name}: volume is in use - [{', '.join(used)}]")
        _core.remove_tree(self._dir(name))
        _volume_event(self.store, "destroy", name)

    def prune(self, all_: bool = False) -> dict:
        """Unused volumes: anonymous ones (docker's default since 23.0), or all with all_."""
        used = self.users()
        deleted, space = [], 0
        for n in self.names():
            if n in used:
                continue
            anonymous = len(n) == 64 and all(c in "0123456789abcdef" for c in n)
            if not (all_ or anonymous):
                continue
            space += disk_usage(os.path.join(self._dir(n), "_data"))
            _core.remove_tree(self._dir(n))
            _volume_event(self.store, "destroy", n)
            deleted.append(n)
        return {"VolumesDeleted": deleted or None, "SpaceReclaimed": space}


def _volume_event(store, action: str, name: str) -> None:
    """A volume event in the store's event log (layerbox.events), as docker's local driver."""
    from layerbox import events

    events.record(store, "volume", action, name, {"driver": "local"})


def _label_match(labels: dict, spec: str) -> bool:
    k, eq, v = spec.partition("=")
    return k in labels and (not eq or labels[k] == v)


def disk_usage(path: str) -> int:
    """Bytes of the files below path (apparent sizes, as docker's directory.Size)."""
    total = 0
    for root, dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass  # removed while counted: it takes no space
    return total
