"""Docker-shaped views of images: `inspect` JSON, `images` rows, `history` rows."""

from __future__ import annotations

import os
import time

from layerbox import _util
from layerbox.errors import NotFound


def inspect(images, image_id: str) -> dict:
    rec = images.record(image_id)
    cfg = images.config(image_id)
    refs = images.refs()
    store = images.store
    dirs = [store.layer_diff(d) for d in reversed(rec["Layers"])]
    from layerbox import dockershape

    return dockershape.image_inspect(
        rec, cfg,
        Id=image_id,
        RepoTags=images.tags_of(image_id, refs),
        RepoDigests=rec.get("RepoDigests", []),
        Parent=rec.get("Parent", ""),
        Comment=_last_comment(cfg),
        Size=rec.get("Size", 0),
        GraphDriver={
            "Name": "overlay",
            # docker's overlay2 names the lower layers only when there are some
            "Data": {**({"LowerDir": ":".join(dirs[1:])} if len(dirs) > 1 else {}),
                     "MergedDir": "", "UpperDir": dirs[0] if dirs else "", "WorkDir": ""},
        },
        RootFS={"Type": "layers", "Layers": list(rec["Layers"])},
        Metadata={"LastTagTime": rec.get("LastTagTime", "0001-01-01T00:00:00Z")},
    )


def _last_comment(cfg: dict) -> str:
    hist = cfg.get("history") or []
    return hist[-1].get("comment", "") if hist else ""


def image_rows(images, all_: bool = False, trunc: bool = True, digests: bool = False,
               now: float | None = None, tagged=None) -> list[dict]:
    """One row per (image, tag); untagged images as <none>. Intermediate images (untagged
    parents of other images) only with all_. With `tagged(repository, "repo:tag")`, only the
    rows of tags it accepts (`images REPO`, `--filter reference=`): then only those images'
    records are read, so a store of many images costs what the matching ones do."""
    now = time.time() if now is None else now
    refs = images.refs()
    by_image: dict[str, list[str]] = {}
    for k, v in refs.items():
        if tagged is None or tagged(k.rpartition(":")[0], k):
            by_image.setdefault(v, []).append(k)
    ids = images.ids() if tagged is None else list(by_image)
    records = {i: images.record(i) for i in ids}
    parents = {r.get("Parent") for r in records.values() if r.get("Parent")}
    rows = []
    for iid, rec in records.items():
        tags = sorted(by_image.get(iid, []))
        if not tags and iid in parents and not all_:
            continue
        created = _util.parse_rfc3339(rec.get("Created", ""))
        base = {
            "ID": (iid[7:19] if trunc else iid),
            "FullID": iid,
            "CreatedSince": _util.human_duration(now - created) + " ago" if created else "N/A",
            "CreatedAt": time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", time.gmtime(created)),
            "Size": _util.human_size(rec.get("Size", 0)),
            "VirtualSize": _util.human_size(rec.get("Size", 0)),
            "Digest": (rec.get("RepoDigests") or ["<none>"])[0].split("@")[-1] if rec.get("RepoDigests") else "<none>",
            "Containers": "N/A",
            "SharedSize": "N/A",
            "UniqueSize": "N/A",
            "_created": created,
            "_tags": tags,
            "_parent": iid in parents,
        }
        if not tags:
            rows.append(dict(base, Repository="<none>", Tag="<none>"))
        for t in tags:
            repo, _, tag = t.rpartition(":")
            rows.append(dict(base, Repository=repo, Tag=tag))
    rows.sort(key=lambda r: (-r["_created"], r["Repository"], r["Tag"]))
    return rows


def history(images, image_id: str) -> list[dict]:
    """docker history, newest first: {Id, Created (unix), CreatedBy, Tags, Size, Comment}.

    Entries are the config's history; each non-empty one takes the next layer (its size is
    that layer's). IDs follow docker: the newest entry is the image itself, each older one the
    parent of the one above, as far as this store knows the chain, and "<missing>" beyond.
    """
    cfg = images.config(image_id)
    diff_ids = (cfg.get("rootfs") or {}).get("diff_ids") or []
    items = []
    n = 0
    for h in cfg.get("history") or []:
        size = 0
        if not h.get("empty_layer"):
            if n < len(diff_ids):
                try:
                    size = images.layer_meta(diff_ids[n]).get("Size", 0)
                except OSError:
                    size = 0
            n += 1
        items.append({"Id": "<missing>", "Created": int(_util.parse_rfc3339(h.get("created", ""))),
                      "CreatedBy": h.get("created_by", ""), "Tags": None, "Size": size,
                      "Comment": h.get("comment", "")})
    items.reverse()
    refs = images.refs()
    cur = image_id
    for it in items:
        if not cur:
            break
        it["Id"] = cur
        it["Tags"] = images.tags_of(cur, refs) or None
        try:
            cur = images.record(cur).get("Parent") or ""
            if cur:
                images.record(cur)  # a parent this store no longer has: "<missing>" from here
        except NotFound:
            break
    return items
