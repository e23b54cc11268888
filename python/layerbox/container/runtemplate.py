"""Run templates: what a `run` from the CLI leaves so that the compiled launcher
(csrc/launcher/run_fast.cpp) can run the same command line again without the interpreter.

Why: a `run --rm IMAGE CMD` spends ~30 of its ~45 ms starting Python and importing the engine,
to compute the same container config and start plan from the same inputs every time. The
engine stays the one place that computes them: this module records, beside them, what they
were computed from, and the launcher reuses them only while every input is unchanged, filling
in what each container has of its own (id, name, creation time). Anything else goes through
Python, which records again.

What a template holds (JSON, <root>/run-templates/<fnv1a-64 of the key>.json, 0600):
- the key: the command line's arguments exactly, and the caller's LAYERBOX_* variables;
- facts: files whose (device, inode, size, mtime) must be unchanged (the image references, the
  host's resolv.conf, the shim, every layerbox module the run loaded: a reinstall or an edit
  invalidates), and paths that must exist (the image's record and layers, the init layer, the
  seccomp filter);
- the cgroups' parent directories (device, inode) and this process's capability bounding set;
- the texts the run wrote and sent: config.json, process.json and the monitor's plan, with the
  container's id as it was (64 random hex digits: replaced wherever it occurs, and its
  12-digit prefix, the hostname), and its name and creation time as holes (a NUL-delimited
  word that JSON escapes and no command line can hold);
- docker's name words, when the name was generated (container/names.py stays their one place).

Only command lines whose outcome depends on nothing else are recorded: the options in PURE, no
-t (the terminal's size), no bare -e K (the caller's environment), --network none or the default
bridge, -p only with its host ports given. On the bridge the container's address is its own too: the launcher claims the next free
one of the network as network.Networks.allocate does, and the texts hold the address, the MAC
made from it and the claim's target as holes (see _bridge_holes).
"""

from __future__ import annotations

import os
import sys

VERSION = 1
DIR = "run-templates"
MAX_TEMPLATES = 32
NAME_HOLE = "\x00name\x00"
CREATED_HOLE = "\x00created\x00"
IP_HOLE = "\x00ip\x00"
MAC_HOLE = "\x00mac\x00"
CLAIM_HOLE = "\x00claim\x00"

# kw keys of `run` (cli/commands/container.py) whose value reaches the config through the
# engine alone: a template for them is valid while the facts hold.
PURE = frozenset({
    "image", "command", "entrypoint", "env", "workdir", "user", "hostname", "name", "network",
    "interactive", "init", "memory", "cpus", "pids_limit", "label", "stop_signal", "read_only",
    "remove", "detach", "stop_timeout", "cap_add", "cap_drop", "attach", "log_driver", "log_opt",
    "ulimit", "oom_score_adj", "pull", "shm_size", "tmpfs", "sysctl", "expose",
    "publish",  # with every host port given: Recorder.created checks (a free one is chosen anew)
})
# Variables that change what the engine does but are not options (tests, debugging): none of
# them may be set for a template to be recorded or used.
_UNCACHED_ENV = ("LAYERBOX_FAULT", "LAYERBOX_DEBUG", "LAYERBOX_IMPORT_REPORT", "LAYERBOX_NO_RUN_TEMPLATE")


def key_env() -> list[str]:
    """The caller's LAYERBOX_* variables, sorted: part of the key (the launcher compares its
    own). LAYERBOX_PYTHON only picks the interpreter that would run otherwise."""
    return sorted(f"{k}={v}" for k, v in os.environ.items()
                  if k.startswith("LAYERBOX_") and k != "LAYERBOX_PYTHON")


def fnv1a64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def file_name(argv: list[str], env: list[str]) -> str:
    """The template's file name for this key (the launcher computes the same; the file holds
    the whole key, so a collision only means a miss)."""
    raw = "\x00".join(argv) + "\x00\x00" + "\x00".join(env)
    return "%016x.json" % fnv1a64(os.fsencode(raw))


def recorder_for(kw: dict, argv: list[str]) -> "Recorder | None":
    """A recorder when this `run` command line may leave a template, else None."""
    if any(os.environ.get(k) for k in _UNCACHED_ENV):
        return None
    for k, v in kw.items():
        if v in (None, False, (), [], "") or k in PURE:
            continue
        return None
    if kw.get("tty") or kw.get("network") not in (None, "none", "bridge") or (kw.get("pull") or "missing") != "missing":
        return None
    if any("=" not in e for e in kw.get("env") or ()):
        return None
    return Recorder(list(argv), bool(kw.get("detach")))


def _signature(path: str) -> list:
    st = os.stat(path)
    return [path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns]


class Recorder:
    """Collects one run's texts and inputs (the engine calls created() and launched()); save()
    writes the template once the container runs."""

    def __init__(self, argv: list[str], detach: bool):
        self.argv = argv
        self.detach = detach
        self.doc: dict | None = None

    def created(self, store, cid: str, name: str, generated: bool, cfg: dict, image_ref: str,
                image_id: str, layers: list) -> None:
        from layerbox import _util

        host = cfg["HostConfig"]
        if host.get("PublishAllPorts") or any(
                not str(b.get("HostPort") or "").isdigit()
                for binds in (host.get("PortBindings") or {}).values() for b in binds or ()):
            return  # a host port the engine chooses is not the command line's
        held = {"Name": "/" + NAME_HOLE, "Created": CREATED_HOLE}
        self.doc = {
            "version": VERSION,
            "argv": self.argv,
            "env": key_env(),
            "id": cid,
            "detach": self.detach,
            "name": "" if generated else name,
            "image_ref": image_ref,
            "config": _util.dump_json({**cfg, **held}).decode(),
            "facts": [_signature(p) for p in (store.refs_file, store.images)
                      if os.path.exists(p)],
            "exists": [store.image_record(image_id), os.path.join(store.root, "private-v1"),
                       os.path.join(store.init_layer, "etc", "mtab"),
                       *(store.layer_diff(d) for d in layers)],
        }
        if generated:
            from layerbox.container import names

            self.doc["names"] = [list(names._LEFT), list(names._RIGHT)]

    def launched(self, plan: dict, process_json: bytes, shim: str, stdio: tuple) -> None:
        if self.doc is None:
            return
        from layerbox import _jsonfast

        mon = plan["monitor"]
        ev = mon["events"]
        held = {**plan, "monitor": {**mon, "events": {
            **ev, "attributes": {**ev["attributes"], "name": NAME_HOLE}}}}
        doc = self.doc
        recorded = None  # the bridge address, MAC and claim target the holes stand for
        if mon.get("network") is not None:
            found = _bridge_holes(held, doc)
            if found is None:
                self.doc = None
                return
            doc["bridge"], recorded = found
        doc["plan"] = _jsonfast.dumps(held)
        doc["process"] = process_json.decode()
        if recorded and not _holes_complete(doc, *recorded):
            self.doc = None
            return
        doc["shim"] = shim
        doc["stdio"] = list(stdio)
        doc["autoremove"] = bool(mon.get("autoremove"))
        doc["events"] = {"log": ev["log"], "max_bytes": ev["max_bytes"]}
        seccomp = (plan.get("process") or {}).get("seccomp") or {}
        if seccomp.get("file"):
            doc["exists"].append(seccomp["file"])
        doc["exists"].append(os.path.join(os.path.dirname(mon["remove_staging"]), "running"))
        # The cgroups' parents as they were: the plan leaves out what a parent already holds
        # (v1's device rules, v2's enabled controllers), which a recreated one would not.
        parents = []
        for d in sorted({os.path.dirname(d) for d in plan["cgroup"]["dirs"].values()}):
            try:
                st = os.stat(d)
            except OSError:
                continue
            parents.append([d, st.st_dev, st.st_ino])
        doc["cgroup_parents"] = parents
        from layerbox.container.security import bounding_set

        doc["capbnd"] = bounding_set()  # what the plan's capabilities were cut to
        for path in ("/etc/resolv.conf", shim):
            try:
                doc["facts"].append(_signature(path))
            except OSError:
                pass
        doc["facts"].extend(_module_signatures())
        doc["ready"] = True

    def save(self, store) -> None:
        """Writes the template (tmp + rename: the launcher reads it whole or not at all); keeps
        at most MAX_TEMPLATES, dropping the least recently written. Never fails the run."""
        doc = self.doc
        if not doc or not doc.get("ready"):
            return
        from layerbox import _jsonfast, _util

        d = os.path.join(store.root, DIR)
        try:
            try:
                os.mkdir(d, 0o700)
            except FileExistsError:
                pass
            name = file_name(doc["argv"], doc["env"])
            _util.write_atomic(os.path.join(d, name), _jsonfast.dumps(doc).encode(), mode=0o600)
            entries = [e for e in os.scandir(d) if e.name.endswith(".json")]
            if len(entries) > MAX_TEMPLATES:
                entries.sort(key=lambda e: e.stat().st_mtime_ns)
                for e in entries[:len(entries) - MAX_TEMPLATES]:
                    if e.name != name:
                        os.unlink(e.path)
        except OSError:
            pass  # a template is only a shortcut


def _bridge_holes(held: dict, doc: dict) -> tuple[dict, tuple] | None:
    """A start on the default bridge alone, without a resolver: the address, its MAC and
    the claim's target become holes in `held` (a copy of the plan where it changes), and the
    network's facts join the template's. Returns what the launcher needs to claim an address
    as network.Networks.allocate does, and the (address, MAC, claim target) recorded. None:
    not a case the launcher does."""
    import json

    from layerbox import network as _network

    mon = held["monitor"]
    eps = mon["network"].get("endpoints") or []
    if len(eps) != 1 or set(mon["network"]) != {"endpoints"}:
        return None
    ep = eps[0]
    if ep["name"] != _network.DEFAULT_NAME or ep.get("dns"):
        return None
    ip, _, prefix = ep["address"].partition("/")
    if ep["mac"] != _network._mac(_network._ip2int(ip)):
        return None
    ndir = os.path.dirname(os.path.dirname(ep["claim"]["path"]))
    record = os.path.join(ndir, "network.json")
    try:
        with open(record) as f:
            ipam = json.load(f)["IPAM"]["Config"][0]
        doc["facts"].append(_signature(record))
    except (OSError, ValueError, KeyError, IndexError):
        return None
    base, p = _network.parse_cidr(ipam["Subnet"])
    first, count = base, 1 << (32 - p)
    if ipam.get("IPRange"):
        first, rp = _network.parse_cidr(ipam["IPRange"])
        count = 1 << (32 - rp)
    mon["network"] = {"endpoints": [{
        **ep, "address": f"{IP_HOLE}/{prefix}", "mac": MAC_HOLE,
        "claim": {"path": os.path.join(ndir, "ips", IP_HOLE), "id": CLAIM_HOLE}}]}
    settings = mon["state"].get("NetworkSettings") or {}
    entry = (settings.get("Networks") or {}).get(_network.DEFAULT_NAME)
    if not entry or entry.get("IPAddress") != ip:
        return None
    own = {"IPAddress": IP_HOLE, "MacAddress": MAC_HOLE}
    mon["state"] = {**mon["state"], "NetworkSettings": {
        **settings, **own, "Networks": {_network.DEFAULT_NAME: {**entry, **own}}}}
    mounts = []
    for op in held["mounts"]:
        if op.get("kind") == "file" and op["target"] == "/etc/hosts":
            lines = op["source"].split("\n")
            lines = [IP_HOLE + ln[len(ip):] if ln.startswith(ip + "\t") else ln for ln in lines]
            op = {**op, "source": "\n".join(lines)}
        mounts.append(op)
    held["mounts"] = mounts
    bridge = {"dir": ndir, "base": base, "size": 1 << (32 - p),
              "gateway": _network._ip2int(ipam["Gateway"]), "first": first, "count": count}
    return bridge, (ip, ep["mac"], ep["claim"]["id"])


def _holes_complete(doc: dict, ip: str, mac: str, claim: str) -> bool:
    """True when no text still holds the recorded address, MAC or claim: a field the holes
    missed would give the next container this one's (the template is then not written)."""
    for key in ("plan", "process", "config"):
        text = doc[key]
        if mac in text or claim in text:
            return False
        at = text.find(ip)
        while at >= 0:
            before = text[at - 1] if at else ""
            after = text[at + len(ip):at + len(ip) + 1]
            if not (before.isdigit() or before == ".") and not after.isdigit():
                return False
            at = text.find(ip, at + 1)
    return True


def _module_signatures() -> list:
    """Every layerbox module this process loaded (the code that computed the texts): a
    reinstall or an edit of any of them invalidates the template."""
    out = []
    for m in list(sys.modules.values()):
        f = getattr(m, "__file__", None)
        if f and getattr(m, "__name__", "").startswith("layerbox"):
            try:
                out.append(_signature(f))
            except OSError:
                pass
    return out
