"""What the network verbs do (no click here)."""

from __future__ import annotations

import sys

from layerbox.errors import InvalidArgument, LayerboxError, NotFound


def _nets(ctx):
    from layerbox.network import Networks

    return Networks(ctx.store)


def _kv(items, what: str) -> dict:
    out = {}
    for i in items or ():
        k, _, v = i.partition("=")
        if not k:
            raise InvalidArgument(f"invalid {what}: {i!r}")
        out[k] = v
    return out


def create(ctx, name, driver="bridge", subnet=None, gateway=None, ip_range=None, internal=False,
           label=(), opt=()) -> int:
    doc = _nets(ctx).create(name, driver=driver, subnet=subnet, gateway=gateway, ip_range=ip_range,
                            internal=internal, labels=_kv(label, "label"),
                            options=_kv(opt, "option"))
    sys.stdout.write(doc["Id"] + "\n")
    return 0


def connect(ctx, network, container, ip=None, alias=()) -> int:
    from layerbox.network import endpoints

    endpoints.connect(ctx.engine, network, container, ip=ip, aliases=list(alias))
    return 0


def disconnect(ctx, network, container, force=False) -> int:
    from layerbox.network import endpoints

    endpoints.disconnect(ctx.engine, network, container, force=force)
    return 0


def ls(ctx, quiet=False, no_trunc=False, fmt=None) -> int:
    recs = _nets(ctx).list()
    rows = [{"ID": r["Id"] if no_trunc else r["Id"][:12], "Name": r["Name"], "Driver": r["Driver"],
             "Scope": r["Scope"], "IPv6": "false", "Internal": str(r["Internal"]).lower(),
             "Labels": ",".join(f"{k}={v}" for k, v in r["Labels"].items()),
             "CreatedAt": r["Created"], "_labels": r["Labels"]} for r in recs]
    rows.sort(key=lambda r: r["Name"])
    if quiet:
        sys.stdout.write("".join(r["ID"] + "\n" for r in rows))
        return 0
    from layerbox.cli import output

    if fmt:
        output.render(fmt, rows, headers={"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER",
                                          "Scope": "SCOPE", "IPv6": "IPV6", "Internal": "INTERNAL",
                                          "Labels": "LABELS", "CreatedAt": "CREATED"},
                      default_table="{{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}",
                      type_name="*network.networkContext", methods=_label_method)
    else:
        output.table(["NETWORK ID", "NAME", "DRIVER", "SCOPE"],
                     [[r["ID"], r["Name"], r["Driver"], r["Scope"]] for r in rows])
    return 0


def _label_method(row):
    return {"Label": lambda k: row["_labels"].get(k, "")}


def inspect_doc(ctx, ref: str) -> dict:
    nets = _nets(ctx)
    net = nets.get(ref)
    doc = dict(net)
    containers = {}
    if net["Driver"] == "bridge":
        for cid, ip in nets.endpoints(net).items():
            try:
                c = ctx.engine.load(cid, reconcile=False)
            except NotFound:
                continue
            n = ((c.state.get("NetworkSettings") or {}).get("Networks") or {}).get(net["Name"]) or {}
            containers[cid] = {"Name": c.name, "EndpointID": n.get("EndpointID", ""),
                               "MacAddress": n.get("MacAddress", ""),
                               "IPv4Address": f"{ip}/{n.get('IPPrefixLen', 0)}", "IPv6Address": ""}
    doc["Containers"] = containers
    return doc


def inspect(ctx, names, fmt=None) -> int:
    docs, failed = [], 0
    for n in names:
        try:
            docs.append(inspect_doc(ctx, n))
        except NotFound as e:
            sys.stderr.write(f"Error: {e}\n")
            failed += 1
    from layerbox.cli import output

    output.print_inspected(docs, fmt, "network")
    return 1 if failed else 0


def rm(ctx, names, force=False) -> int:
    nets, failed = _nets(ctx), 0
    for n in names:
        try:
            nets.remove(n)
            sys.stdout.write(n + "\n")
        except NotFound as e:
            if not force:
                sys.stderr.write(f"Error: {e}\n")
                failed += 1
        except (LayerboxError, OSError) as e:
            sys.stderr.write(f"Error: {e}\n")
            failed += 1
    return 1 if failed else 0


def prune(ctx, force=False) -> int:
    if not force and sys.stdin.isatty():
        sys.stdout.write("WARNING! This will remove all custom networks not used by at least one "
                         "container.\nAre you sure you want to continue? [y/N] ")
        sys.stdout.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            return 0
    removed = _nets(ctx).prune()
    if removed:
        sys.stdout.write("Deleted Networks:\n" + "".join(n + "\n" for n in removed) + "\n")
    return 0
