"""What the image verbs do (no click here)."""

from __future__ import annotations

import sys

from layerbox.errors import InvalidArgument, LayerboxError, NotFound


def _err(msg: str) -> None:
    sys.stderr.write(f"Error: {msg}\n")


def import_(ctx, source, repository=None, change=(), message=None, platform=None) -> int:
    from layerbox.image.importer import import_tar

    if platform and platform not in ("linux", "linux/amd64", "amd64"):
        raise InvalidArgument(f"image platform {platform} is not supported here (linux/amd64 only)")
    sys.stdout.write(import_tar(ctx.images, source, repository, list(change), message or "") + "\n")
    return 0


def _filters(filters) -> dict:
    out: dict = {}
    for f in filters or ():
        k, eq, v = f.partition("=")
        if not eq:
            raise InvalidArgument(f'bad format of filter (expected name=value): "{f}"')
        if k not in ("dangling", "reference", "label", "before", "since"):
            raise InvalidArgument(f"invalid filter '{k}'")
        out.setdefault(k, []).append(v)
    return out


def images(ctx, all_=False, quiet=False, digests=False, no_trunc=False, filters=(), fmt=None,
           reference=None) -> int:
    from fnmatch import fnmatchcase

    from layerbox.cli import output
    from layerbox.image import views

    flt = _filters(filters)
    if reference:
        flt.setdefault("reference", []).append(reference)
    rows = views.image_rows(ctx.images, all_=all_ or "dangling" in flt, trunc=not no_trunc)
    if "dangling" in flt:
        want = flt["dangling"][-1].lower() in ("true", "1")
        rows = [r for r in rows if (not r["_tags"]) == want]
    if "reference" in flt:
        def ref_ok(r):
            if r["Repository"] == "<none>":
                return False
            full = f"{r['Repository']}:{r['Tag']}"
            return any(fnmatchcase(r["Repository"], p) or fnmatchcase(full, p) for p in flt["reference"])

        rows = [r for r in rows if ref_ok(r)]
    if "label" in flt:
        def label_ok(r):
            labels = (ctx.images.config(r["FullID"]).get("config") or {}).get("Labels") or {}
            for l in flt["label"]:
                k, eq, v = l.partition("=")
                if k not in labels or (eq and labels[k] != v):
                    return False
            return True

        rows = [r for r in rows if label_ok(r)]
    if quiet:
        seen = []
        for r in rows:
            if r["ID"] not in seen:
                seen.append(r["ID"])
        sys.stdout.write("".join(i + "\n" for i in seen))
        return 0
    if fmt:
        output.render(fmt, [{k: v for k, v in r.items() if not k.startswith("_") and k != "FullID"}
                            for r in rows],
                      headers={"Repository": "REPOSITORY", "Tag": "TAG", "ID": "IMAGE ID",
                               "CreatedSince": "CREATED", "CreatedAt": "CREATED AT",
                               "Size": "SIZE", "Digest": "DIGEST"})
        return 0
    head = ["REPOSITORY", "TAG"] + (["DIGEST"] if digests else []) + ["IMAGE ID", "CREATED", "SIZE"]
    output.table(head, [[r["Repository"], r["Tag"]] + ([r["Digest"]] if digests else []) +
                        [r["ID"], r["CreatedSince"], r["Size"]] for r in rows])
    return 0


def tag(ctx, source, target) -> int:
    image_id = ctx.images.resolve(source)
    ctx.images.tag(image_id, target)
    return 0


def rmi(ctx, images, force=False, no_prune=False) -> int:
    failed = 0
    for ref in images:
        try:
            res = ctx.images.remove(ref, force=force, prune=not no_prune)
            for line in res.lines:
                for k, v in line.items():
                    sys.stdout.write(f"{k}: {v}\n")
        except (LayerboxError, OSError) as e:
            _err(str(e))
            failed += 1
    return 125 if failed else 0


def inspect(ctx, names, fmt=None) -> int:
    import json

    from layerbox.image import views

    docs, failed = [], 0
    for n in names:
        try:
            docs.append(views.inspect(ctx.images, ctx.images.resolve(n)))
        except (NotFound, InvalidArgument):
            _err(f"No such image: {n}")
            failed += 1
    if fmt:
        from layerbox.cli import output

        output.render(fmt, docs)
    else:
        sys.stdout.write(json.dumps(docs, indent=4) + "\n")
    return 1 if failed else 0
