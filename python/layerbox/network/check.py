"""The network part of `system check [--repair]`: what the kernel holds for layerbox in this
network namespace, against what the store says should be there. A monitor killed with its
container leaves its veths and published-port elements (the next command that reads the
container removes them, but a container nobody looks at again keeps them); a crash in `network
rm` can leave a bridge or the table's elements of a network that no longer exists.

- veths `lbv*` that belong to no running container (names: `network.host_if`);
- elements of the `pub4`/`puball4` maps that lead to no running container's address;
- bridges `br-*`, and members of the `bridges` and `masq4` sets, of no network of the store;
- address claims of a running container that its state does not record (a `network connect`
  that died half way).

Like the bridge `layerbox0` and the `layerbox` table, the check takes the network namespace
to be this store's: a second store whose containers run in the same namespace would see the
other's veths and published ports reported here. Telling them apart (a store mark on each
link and element) is not done because it would not make two stores in one namespace work:
both default networks are `layerbox0` with the same subnet and separate address records, so
their containers would be handed the same addresses on one bridge. One store per network
namespace is the rule (docs/design/README.md, Networks).

Claims of containers that stopped or were removed are not problems: an address is claimed
by a symlink that allocation takes over when its holder no longer runs (network/__init__.py),
so they cost nothing and need no repair.
"""

from __future__ import annotations

import errno
import json
import os

from layerbox import _util

from . import DEFAULT_BRIDGE, Networks, bridge_name, host_if

_LIVE = ("running", "paused", "restarting")


def _links() -> list[str]:
    """The links of this network namespace (/proc/net/dev is per namespace; /sys/class/net
    shows the namespace sysfs was mounted in)."""
    try:
        with open("/proc/self/net/dev") as f:
            return [line.split(":", 1)[0].strip() for line in f.readlines()[2:] if ":" in line]
    except OSError:
        return []


def _running(store, engine) -> dict:
    """{container id: state} of the containers whose monitor lives."""
    out = {}
    for cid in _listdir(store.containers):
        try:
            st = _util.read_json(os.path.join(store.containers, cid, "state.json"))
        except (OSError, ValueError):
            continue
        if st.get("Status") in _LIVE and engine._monitor_alive(st):
            out[cid] = st
    return out


def _listdir(d: str) -> list:
    try:
        return os.listdir(d)
    except OSError:
        return []


def _nft_elems(name: str) -> list:
    from layerbox import _net

    try:
        doc = json.loads(_net.nft_list_json(f"{'set' if name in ('bridges', 'masq4') else 'map'} "
                                            f"inet layerbox {name}"))
    except (OSError, ValueError):
        return []  # no table (nothing published yet): nothing to check
    for item in doc.get("nftables", ()):
        body = item.get("map") or item.get("set")
        if body:
            return body.get("elem") or []
    return []


def _nft_text(v) -> str:
    """An element's key in nft's own syntax, from its JSON form."""
    if isinstance(v, dict) and "concat" in v:
        return " . ".join(_nft_text(x) for x in v["concat"])
    if isinstance(v, dict) and "prefix" in v:
        return f"{v['prefix']['addr']}/{v['prefix']['len']}"
    if isinstance(v, dict) and "elem" in v:
        return _nft_text(v["elem"]["val"])
    if isinstance(v, str) and not v.replace(".", "").isdigit() and v not in ("tcp", "udp"):
        return json.dumps(v)  # an interface name: quoted
    return str(v)


def check(checker) -> None:
    store = checker.store
    from layerbox.container.engine import ContainerEngine

    engine = ContainerEngine(store)
    nets = Networks(store)
    records = nets._records()
    running = _running(store, engine)
    links = _links()
    problem = checker.problem

    # veths of containers that do not run
    wanted = set()
    addresses = set()
    for cid, st in running.items():
        wanted.add(host_if(cid, "", True))
        for n in ((st.get("NetworkSettings") or {}).get("Networks") or {}).values():
            wanted.add(host_if(cid, n.get("NetworkID") or "", False))
            if n.get("IPAddress"):
                addresses.add(n["IPAddress"])
    for link in links:
        if link.startswith("lbv") and link not in wanted:
            problem(f"link {link}", "a container's veth, and no running container has it",
                    lambda link=link: _delete_link(link))

    # published ports that lead to no running container
    from layerbox import _net

    for m in ("pub4", "puball4"):
        for e in _nft_elems(m):
            key, value = e if isinstance(e, list) and len(e) == 2 else (e, None)
            target = ((value or {}).get("concat") or [""])[0] if isinstance(value, dict) else ""
            if target in addresses:
                continue
            text = _nft_text(key)
            problem(f"nftables element {m} {{ {text} }}",
                    f"a published port to {target or 'nothing'}, an address of no running container",
                    lambda m=m, text=text: _net.nft(f"delete element inet layerbox {m} {{ {text} }}"))

    # bridges and set members of networks that do not exist
    bridges = {bridge_name(r) for r in records} | {DEFAULT_BRIDGE}
    subnets = {c["Subnet"] for r in records for c in r["IPAM"]["Config"]}
    for link in links:
        if link.startswith("br-") and link not in bridges:
            problem(f"link {link}", "a network's bridge, and no network of the store has it",
                    lambda link=link: _delete_link(link))
    for e in _nft_elems("bridges"):
        name = e if isinstance(e, str) else _nft_text(e).strip('"')
        if name not in bridges:
            problem(f"nftables element bridges {{ {name} }}", "a bridge of no network of the store",
                    lambda name=name: _nft_delete(
                        f'delete element inet layerbox bridges {{ "{name}" }}',
                        f'delete element inet layerbox samenet {{ "{name}" . "{name}" }}'))
    for e in _nft_elems("masq4"):
        text = _nft_text(e)
        if text not in subnets:
            problem(f"nftables element masq4 {{ {text} }}", "the subnet of no network of the store",
                    lambda text=text: _net.nft(f"delete element inet layerbox masq4 {{ {text} }}"))

    # claims of running containers that their state does not record
    for r in records:
        ips = os.path.join(nets._dir(r["Id"]), "ips")
        for ip in _listdir(ips):
            try:
                cid = nets.claim_of(r["Id"], ip)
            except OSError:
                continue
            st = running.get(cid)
            if st is None or _util.flock_held(os.path.join(store.containers, cid), by_writer_only=True):
                continue  # not running: free for the taking; locked: being started or connected
            recorded = ((st.get("NetworkSettings") or {}).get("Networks") or {}).values()
            if not any(n.get("NetworkID") == r["Id"] and n.get("IPAddress") == ip for n in recorded):
                problem(f"address {ip} of network {r['Name']}",
                        f"claimed by running container {cid[:12]}, which does not have it",
                        lambda r=r, ip=ip, cid=cid: nets.release(r["Id"], ip, cid))


def _nft_delete(*cmds: str) -> None:
    """Each command on its own: an element already gone is no error."""
    from layerbox import _net

    for c in cmds:
        try:
            _net.nft(c)
        except OSError as e:
            if e.errno != errno.ENOENT:
                raise


def _delete_link(name: str) -> None:
    from layerbox import _net

    _net.delete_link(name)
