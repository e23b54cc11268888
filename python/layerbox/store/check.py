"""`layerbox system check [--repair]`: the store checked against itself, the processes and the
kernel; each problem reported on a line, and repaired where that is safe.

What is checked (see the README's command table):

- privacy: the root and its directories 0700, containers' config and state 0600;
- staging of processes that are gone, void leases, temporary files of interrupted writes;
- blobs: each hashes to its name; each is a layer's tar or an image's config;
- layers: meta.json, its DiffID, its blob and the blob's size; one that nothing names;
- images: the record against its config (layers, ID), its layers and parent, its size;
- refs: each names an image that exists;
- containers: config, name, layers; state against processes (monitor alive with its start
  time, the init's start time), stale sockets, names without a container;
- stray mounts under the root (containers mount only in their own namespaces) and cgroups of
  containers that do not exist or do not run.

Repairs never touch what a live process owns, and never delete user data a guess would lose:
a damaged blob or a missing layer is reported, not "fixed".
"""

from __future__ import annotations

import os
import re
import sys

from layerbox import _jsonfast, _util
from layerbox.store import DOWNLOAD_PREFIX, PRIVATE_MARK, Store, owner_alive, remove_download, staging_owner

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_TMP_SUFFIX = re.compile(r"\.tmp\.(\d+)$")


class Checker:
    def __init__(self, store: Store, repair: bool, out=None):
        self.store = store
        self.repair = repair
        self.out = out or sys.stdout
        self.found = 0
        self.fixed = 0
        from layerbox.image.store import ImageStore

        self.images = ImageStore(store)

    # -- reporting -------------------------------------------------------------------------
    def problem(self, what: str, why: str, fix=None) -> None:
        self.found += 1
        line = f"{what}: {why}"
        if self.repair:
            if fix is None:
                line += " (not repaired: needs a person)"
            else:
                try:
                    fix()
                    self.fixed += 1
                    line += " (repaired)"
                except OSError as e:
                    line += f" (repair failed: {(e.strerror or str(e)).lower()})"
        self.out.write(line + "\n")

    # -- the run ---------------------------------------------------------------------------
    def run(self) -> int:
        store = self.store
        # This process reports what it finds: it does not reclaim on its own first lock.
        store._reclaimed = store._leases_checked = True
        if not os.path.isdir(store.root):
            self.out.write("no problems found\n")
            return 0
        self.check_private()
        self.check_mounts()  # first: a mount holds what is under it
        self.check_staging()
        # Containers outside the store lock: repairing one may take it (a reconcile).
        containers = self.check_containers()
        self.check_names()
        with store.lock():
            self.check_leases()
            self.check_stray_tmp()
            refs = self.check_refs()
            self.check_images(refs)
            self.check_layers(containers)
            self.check_blobs()
        self.check_cgroups()
        self.check_network()
        if self.found == 0:
            self.out.write("no problems found\n")
            return 0
        if self.repair:
            self.out.write(f"{self.found} problem(s) found, {self.fixed} repaired\n")
            return 0 if self.fixed == self.found else 1
        self.out.write(f"{self.found} problem(s) found (layerbox system check --repair repairs "
                       "what it safely can)\n")
        return 1

    # -- privacy ---------------------------------------------------------------------------
    def check_private(self) -> None:
        from layerbox.store import _make_private

        s = self.store
        loose = []
        for d in (s.root, s.layers, s.containers, s.tmp, s.volumes, s.images, s.names):
            try:
                mode = os.stat(d).st_mode & 0o777
            except FileNotFoundError:
                continue
            if mode & 0o077:
                loose.append(f"{d} (mode {mode:04o})")
        for cid in _listdir(s.containers):
            for f in ("config.json", "state.json"):
                p = os.path.join(s.containers, cid, f)
                try:
                    st = os.lstat(p)
                except FileNotFoundError:
                    continue
                if st.st_mode & 0o077:
                    loose.append(f"{p} (mode {st.st_mode & 0o777:04o})")

        def fix():
            _make_private(s)

        for p in loose:
            self.problem(p, "readable by other users of the host; the store must be private", fix)
        if not os.path.exists(os.path.join(s.root, PRIVATE_MARK)) and os.path.isdir(s.containers):
            self.problem(s.root, "not yet brought to the private modes", fix)

    # -- crash leftovers -------------------------------------------------------------------
    def check_staging(self) -> None:
        from layerbox.store import heal

        for n in _listdir(self.store.tmp):
            if n.startswith(DOWNLOAD_PREFIX):
                path = os.path.join(self.store.tmp, n)
                if not _util.flock_held(path):  # one a running pull holds is its work
                    self.problem(path, "partial download of a pull that was cut off (the next pull of "
                                 "that blob resumes it)", lambda p=path: remove_download(p))
                continue
            if owner_alive(staging_owner(n)):
                continue
            self.problem(os.path.join(self.store.tmp, n), "staging of a process that is gone",
                         lambda n=n: heal.reclaim_staging(self.store, [n]))

    def check_leases(self) -> None:
        void = self.images.void_leases()
        for path, held in void.items():
            n = len([h for h in held if h])
            self.problem(path, f"lease of a process that is gone ({n} item(s) held)",
                         lambda: self.images.collect_void_leases())

    def check_stray_tmp(self) -> None:
        """Temporary files of writes by rename (`<file>.tmp.<pid>`) whose writer is gone."""
        s = self.store
        dirs = [s.root, s.images] + [os.path.join(s.containers, c) for c in _listdir(s.containers)]
        dirs += [os.path.join(s.layers, h) for h in _listdir(s.layers)]
        for d in dirs:
            for n in _listdir(d):
                m = _TMP_SUFFIX.search(n)
                if not m or os.path.exists(f"/proc/{m.group(1)}"):
                    continue
                p = os.path.join(d, n)
                self.problem(p, "temporary file of an interrupted write", lambda p=p: _unlink(p))

    # -- images ----------------------------------------------------------------------------
    def check_refs(self) -> dict:
        try:
            refs = self.images.refs()
        except ValueError as e:
            self.problem(self.store.refs_file, f"not valid JSON ({e})")
            return {}
        if not isinstance(refs, dict):
            self.problem(self.store.refs_file, "not a JSON object")
            return {}
        bad = [k for k, v in refs.items()
               if not isinstance(v, str) or not os.path.exists(self.store.image_record(v))]

        def drop(k):
            r = self.images.refs()
            r.pop(k, None)
            self.images._write_refs(r)

        for k in bad:
            self.problem(f"tag {k}", f"names image {refs[k]}, which is not in the store",
                         lambda k=k: drop(k))
        return {k: v for k, v in refs.items() if k not in bad}

    def check_images(self, refs: dict) -> None:
        import hashlib

        s = self.store
        for n in _listdir(s.images):
            path = os.path.join(s.images, n)
            if not n.endswith(".json") or _TMP_SUFFIX.search(n):
                continue
            image_id = "sha256:" + n[:-5]
            what = f"image {image_id[7:19]}"
            try:
                rec = _util.read_json(path)
                assert isinstance(rec, dict)
            except (OSError, ValueError, AssertionError):
                self.problem(what, f"record {path} is not valid JSON")
                continue
            try:
                data = self.images.config_bytes(image_id)
            except FileNotFoundError:
                self.problem(what, "its config blob is missing")
                continue
            if "sha256:" + hashlib.sha256(data).hexdigest() != image_id:
                self.problem(what, "its config blob does not hash to the image ID")
                continue
            try:
                diff_ids = _jsonfast.loads(data).get("rootfs", {}).get("diff_ids", [])
            except (ValueError, AttributeError):
                self.problem(what, "its config is not valid JSON")
                continue
            if rec.get("Layers") != diff_ids:
                self.problem(what, "its record's layers differ from its config's diff_ids")
            missing = [d for d in diff_ids if not self.images.has_layer(d)]
            for d in missing:
                self.problem(what, f"its layer {d} is not in the store")
            parent = rec.get("Parent") or ""
            if parent and not os.path.exists(s.image_record(parent)):
                def clear(path=path):
                    r = _util.read_json(path)
                    r["Parent"] = ""
                    _util.write_atomic(path, _util.dump_json(r), fsync=True)

                self.problem(what, f"its parent {parent[7:19]} is not in the store", clear)
            if not missing:
                size = sum(self.images.layer_meta(d).get("Size", 0) for d in diff_ids)
                if rec.get("Size") != size:
                    def resize(path=path, size=size):
                        r = _util.read_json(path)
                        r["Size"] = size
                        _util.write_atomic(path, _util.dump_json(r), fsync=True)

                    self.problem(what, f"its size is recorded as {rec.get('Size')}, its layers hold {size}",
                                 resize)

    def check_layers(self, container_layers: set) -> None:
        s = self.store
        named = set(container_layers)
        for i in self.images.ids():
            try:
                named.update(self.images.record(i).get("Layers", []))
            except (OSError, ValueError):
                pass
        named |= self.images._leased()
        orphans = []
        for h in _listdir(s.layers):
            d = "sha256:" + h
            what = f"layer {d}"
            if not _HEX64.match(h):
                continue
            meta_path = os.path.join(s.layers, h, "meta.json")
            try:
                meta = _util.read_json(meta_path)
                assert isinstance(meta, dict)
            except (OSError, ValueError, AssertionError):
                if d not in named:
                    orphans.append(d)
                    self.problem(what, "no meta.json and nothing names it",
                                 lambda: self.images.gc_locked())
                else:
                    self.problem(what, "its meta.json is missing or not valid JSON")
                continue
            if meta.get("DiffID") != d:
                self.problem(what, f"meta.json says it is {meta.get('DiffID')}")
            try:
                size = os.stat(s.blob_path(d)).st_size
                if meta.get("TarSize") is not None and size != meta["TarSize"]:
                    self.problem(what, f"its blob holds {size} bytes, meta.json says {meta['TarSize']}")
            except FileNotFoundError:
                self.problem(what, "its blob (the layer's tar) is missing")
            if d not in named:
                self.problem(what, "no image or container names it (an orphan)",
                             lambda: self.images.gc_locked())

    def check_blobs(self) -> None:
        from layerbox import _core

        s = self.store
        for h in _listdir(s.blobs):
            path = os.path.join(s.blobs, h)
            if _TMP_SUFFIX.search(h):
                continue  # reported below
            if not _HEX64.match(h):
                self.problem(path, "not a blob (its name is no sha256 digest)", lambda p=path: _unlink(p))
                continue
            if not os.path.isdir(os.path.join(s.layers, h)) and not os.path.exists(
                    os.path.join(s.images, h + ".json")):
                self.problem(f"blob sha256:{h}", "neither a layer's tar nor an image's config (an orphan)",
                             lambda p=path: _unlink(p))
                continue
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError as e:
                self.problem(f"blob sha256:{h}", f"cannot be read ({(e.strerror or '').lower()})")
                continue
            try:
                got = _core.sha256_fd(fd)
            finally:
                os.close(fd)
            if got != "sha256:" + h:
                self.problem(f"blob sha256:{h}", f"its content hashes to {got}: the store is damaged")
        for h in _listdir(s.blobs):
            if _TMP_SUFFIX.search(h):
                p = os.path.join(s.blobs, h)
                self.problem(p, "temporary file of an interrupted write", lambda p=p: _unlink(p))

    # -- containers ------------------------------------------------------------------------
    def check_containers(self) -> set:
        """Returns the layers containers use."""
        from layerbox import _core
        from layerbox.container.engine import ContainerEngine, _boot_id

        s = self.store
        engine = ContainerEngine(s, self.images)
        used = set()
        for cid in _listdir(s.containers):
            cdir = os.path.join(s.containers, cid)
            what = f"container {cid[:12]}"
            try:
                cfg = _util.read_json(os.path.join(cdir, "config.json"))
                assert isinstance(cfg, dict)
            except FileNotFoundError:
                self.problem(what, f"{cdir} has no config.json (left by a crash)",
                             lambda cdir=cdir: _remove_tree(cdir))
                continue
            except (OSError, ValueError, AssertionError):
                self.problem(what, "its config.json is not valid JSON")
                continue
            layers = cfg.get("Layers") or []
            used.update(layers)
            for d in layers:
                if not self.images.has_layer(d):
                    self.problem(what, f"its layer {d} is not in the store")
            name = (cfg.get("Name") or "").lstrip("/")
            link = os.path.join(s.names, name)
            try:
                target = os.readlink(link)
            except OSError:
                target = None
            if name and target != cid:
                def relink(link=link, cid=cid):
                    _unlink(link)
                    os.symlink(cid, link)

                self.problem(what, f"its name {name} " + ("is missing" if target is None else
                                                          f"points at {target[:12]}"),
                             relink if target is None or not os.path.isdir(
                                 os.path.join(s.containers, target)) else None)
            try:
                state = _util.read_json(os.path.join(cdir, "state.json"))
            except FileNotFoundError:
                state = {}
            except (OSError, ValueError):
                self.problem(what, "its state.json is not valid JSON")
                continue
            status = state.get("Status", "created")
            if status in ("running", "restarting", "paused"):
                if not engine._monitor_alive(state):
                    why = ("the host rebooted" if state.get("BootId") and state["BootId"] != _boot_id()
                           else f"its monitor (pid {state.get('MonitorPid')}) is gone")
                    self.problem(what, f"state says {status} but {why}",
                                 lambda cid=cid: engine.load(cid))
                elif state.get("Pid") and status != "restarting" and _core.process_start_time(
                        state["Pid"]) != state.get("PidStartTime"):
                    self.problem(what, f"state says {status} but its process (pid {state['Pid']}) is gone")
            elif os.path.exists(os.path.join(cdir, "monitor.sock")) and not engine._monitor_alive(state):
                self.problem(what, "a monitor socket is left although no monitor runs",
                             lambda p=os.path.join(cdir, "monitor.sock"): _unlink(p))
        return used

    def check_names(self) -> None:
        from layerbox.container.engine import ContainerEngine

        s = self.store
        engine = ContainerEngine(s, self.images)
        for n in _listdir(s.names):
            link = os.path.join(s.names, n)
            if engine._name_holder(link) is None:
                self.problem(f"name {n}", "points at a container that does not exist",
                             lambda link=link: engine._drop_stale_name(link))

    # -- the kernel ------------------------------------------------------------------------
    def check_mounts(self) -> None:
        prefix = self.store.root.rstrip("/") + "/"
        try:
            with open("/proc/self/mountinfo") as f:
                points = [line.split()[4] for line in f]
        except OSError:
            return
        for p in reversed(points):  # the last mounted goes first
            p = _unescape(p)
            if p == self.store.root or p.startswith(prefix):
                self.problem(f"mount {p}", "a mount under the store in the host's namespace "
                             "(containers mount only in their own)", lambda p=p: _umount(p))

    def check_cgroups(self) -> None:
        from layerbox import _core
        from layerbox.container.cgroups import CgroupLayout

        layout = CgroupLayout.default()
        if layout.version == 2:
            parents = [os.path.join(layout.base, layout.parent)]
        else:
            parents = [os.path.join(layout.base, c, layout.parent)
                       for c in ("freezer", "pids", "memory", "devices", "cpu", "cpuset")]
        seen = set()
        for parent in parents:
            for cid in _listdir(parent):
                if _HEX64.match(cid) and os.path.isdir(os.path.join(parent, cid)):
                    seen.add(cid)
        for cid in sorted(seen):
            cdir = os.path.join(self.store.containers, cid)
            try:
                state = _util.read_json(os.path.join(cdir, "state.json"))
            except (OSError, ValueError):
                state = {}
            exists = os.path.isdir(cdir)
            if exists and state.get("Status") in ("running", "restarting", "paused"):
                continue
            cg = _core.Cgroup(layout.cgroup_for(cid))
            try:
                procs = cg.procs()
            except OSError:
                procs = []
            why = ("of a container that does not exist" if not exists else
                   f"of a container that is {state.get('Status', 'created')}")
            if procs:
                why += f", holding {len(procs)} process(es)"

            def fix(cg=cg, kill=bool(procs)):
                if kill:
                    cg.signal_all(9)
                cg.destroy()

            # Processes in a cgroup of no container here may be another store's: reported only.
            self.problem(f"cgroup {cid[:12]}", why, fix if exists or not procs else None)


    def check_network(self) -> None:
        if not os.path.isdir(os.path.join(self.store.root, "networks")):
            return  # no bridge network was ever used: nothing of ours in the kernel
        from layerbox.network import check as _netcheck

        _netcheck.check(self)


def _listdir(d: str) -> list[str]:
    try:
        return os.listdir(d)
    except (FileNotFoundError, NotADirectoryError):
        return []


def _unlink(p: str) -> None:
    try:
        os.unlink(p)
    except FileNotFoundError:
        pass


def _remove_tree(p: str) -> None:
    from layerbox import _core

    _core.remove_tree(p)


def _unescape(p: str) -> str:
    """mountinfo's octal escapes (\\040 for a space)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), p)


def _umount(p: str) -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.umount2(p.encode(), 2) != 0:  # MNT_DETACH
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), p)


def check(store: Store, repair: bool = False, out=None) -> int:
    return Checker(store, repair, out).run()


