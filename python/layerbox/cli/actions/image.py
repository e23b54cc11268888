"""What the image verbs do (no click here)."""

from __future__ import annotations

import os
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
    from layerbox.cli import output
    from layerbox.image import views

    flt = _filters(filters)
    if reference:
        flt.setdefault("reference", []).append(reference)
    tagged = None
    if "reference" in flt:
        pats = flt["reference"]
        if any(c in p for p in pats for c in "*?[\\"):
            from fnmatch import fnmatchcase

            def tagged(repo, full):
                return any(fnmatchcase(repo, p) or fnmatchcase(full, p) for p in pats)
        else:
            # `images REPO`, the common form: a name without a pattern character matches
            # itself only, so neither fnmatch (and `re` with it) nor a match per tag is needed.
            names = set(pats)

            def tagged(repo, full):
                return repo in names or full in names

    rows = views.image_rows(ctx.images, all_=all_, trunc=not no_trunc, tagged=tagged)
    if "dangling" in flt:
        # docker: dangling=true lists untagged images that are not parents (the heads), even
        # with -a; dangling=false only tagged ones.
        want = flt["dangling"][-1].lower() in ("true", "1")
        rows = [r for r in rows if (not r["_tags"]) == want and not (want and r.get("_parent"))]
    if tagged is not None:  # the untagged rows of the images a matching tag names
        rows = [r for r in rows if r["Repository"] != "<none>"]
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
                               "Size": "SIZE", "Digest": "DIGEST", "Containers": "CONTAINERS",
                               "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE",
                               "VirtualSize": "VIRTUAL SIZE"},
                      default_table="{{.Repository}}\t{{.Tag}}\t" + ("{{.Digest}}\t" if digests else "")
                      + "{{.ID}}\t{{.CreatedSince}}\t{{.Size}}",
                      type_name="*formatter.imageContext")
        return 0
    head = ["REPOSITORY", "TAG"] + (["DIGEST"] if digests else []) + ["IMAGE ID", "CREATED", "SIZE"]
    output.table(head, [[r["Repository"], r["Tag"]] + ([r["Digest"]] if digests else []) +
                        [r["ID"], r["CreatedSince"], r["Size"]] for r in rows])
    return 0


def tag(ctx, source, target) -> int:
    from layerbox.image import reference

    # docker's client checks both names before asking the engine, with these words.
    for name, check in ((source, reference.parse_any), (target, reference.parse)):
        try:
            check(name)
        except InvalidArgument as e:
            raise InvalidArgument(f'Error parsing reference: "{name}" is not a valid repository/tag: {e}') from None
    reference.parse_tag_target(target)
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
            from layerbox.cli.main import message

            _err(message(e))
            failed += 1
    return 1 if failed else 0


def inspect(ctx, names, fmt=None) -> int:
    from layerbox.image import views

    docs, failed = [], 0
    for n in names:
        try:
            docs.append(views.inspect(ctx.images, ctx.images.resolve(n)))
        except (NotFound, InvalidArgument):
            _err(f"No such image: {n}")
            failed += 1
    from layerbox.cli import output

    output.print_inspected(docs, fmt, "image")
    return 1 if failed else 0


def _ellipsis(s: str, width: int) -> str:
    """docker's formatter.Ellipsis: cut to width characters, the last one an ellipsis."""
    return s if len(s) <= width else s[: width - 1] + "\u2026"


def history(ctx, image=None, no_trunc=False, quiet=False, fmt=None, human="true") -> int:
    import time

    from layerbox import _util
    from layerbox.cli import output
    from layerbox.cli.actions.container_files import bool_or_positional
    from layerbox.image import views

    human_b, pos = bool_or_positional(human, [image])
    pos = [p for p in pos if p is not None]
    if len(pos) != 1:
        raise InvalidArgument('"history" requires exactly 1 argument: IMAGE')
    items = views.history(ctx.images, ctx.images.resolve(pos[0]))
    now = time.time()
    rows = []
    for h in items:
        iid = h["Id"]
        if iid != "<missing>" and not no_trunc:
            iid = _util.short_id(iid)
        created_by = h["CreatedBy"].replace("\t", " ")
        if not no_trunc:
            created_by = _ellipsis(created_by, 45)
        at = _util.rfc3339(h["Created"]).replace(".000000000Z", "Z")
        rows.append({
            "ID": iid,
            "CreatedSince": (_util.human_duration(now - h["Created"]) + " ago") if human_b else at,
            "CreatedAt": at,
            "CreatedBy": created_by,
            "Size": _util.human_size(h["Size"]) if human_b else str(h["Size"]),
            "Comment": h["Comment"],
        })
    if quiet:
        sys.stdout.write("".join(r["ID"] + "\n" for r in rows))
        return 0
    if fmt:
        output.render(fmt, rows, headers={"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT",
                                          "CreatedBy": "CREATED BY", "Size": "SIZE", "Comment": "COMMENT"},
                      default_table="{{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}",
                      type_name="*image.historyContext")
        return 0
    output.table(["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"],
                 [[r["ID"], r["CreatedSince"], r["CreatedBy"], r["Size"], r["Comment"]] for r in rows])
    return 0


def save(ctx, images, output=None, fmt="docker-archive") -> int:
    from layerbox.cli.actions.container_files import refuse_terminal
    from layerbox.image import archive

    if fmt == "oci-dir":
        if not output:
            raise InvalidArgument("--format oci-dir needs -o DIRECTORY")
        archive.save_oci_dir(ctx.images, list(images), output)
        return 0
    if output:
        archive.save_to_file(ctx.images, list(images), output)
        return 0
    refuse_terminal()
    archive.select(ctx.images, list(images))
    sys.stdout.flush()
    archive.save_to_fd(ctx.images, list(images), 1)
    return 0


def load(ctx, input_=None, quiet=False) -> int:
    from layerbox.image import archive

    # docker's load draws its "Loading layer" lines only on a terminal, and never with -q
    emit = None
    if not quiet and sys.stdout.isatty():
        from layerbox.cli.actions.registry import Display

        emit = Display(sys.stdout)
    if input_:
        lines = archive.load_file(ctx.images, input_, emit=emit)
    else:
        if os.isatty(0):
            raise InvalidArgument("requested load from stdin, but stdin is empty")
        lines = archive.load_fd(ctx.images, 0, emit=emit)
    sys.stdout.write("".join(line + "\n" for line in lines))
    return 0


def prune(ctx, all_=False, force=False, filters=()) -> int:
    from layerbox._util import human_size

    flt = _filters(filters)
    for k in flt:
        if k not in ("label", "dangling"):
            raise InvalidArgument(f"invalid filter '{k}'")
    if "dangling" in flt:
        all_ = flt["dangling"][-1].lower() in ("false", "0")
    if not force and sys.stdin.isatty():
        what = ("all images without at least one container associated to them" if all_
                else "all dangling images")
        sys.stdout.write(f"WARNING! This will remove {what}.\nAre you sure you want to continue? [y/N] ")
        sys.stdout.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            return 0
    res = ctx.images.prune(all_=all_, labels=flt.get("label") or ())
    lines = res.get("ImagesDeleted") or []
    if lines:
        sys.stdout.write("Deleted Images:\n")
        for line in lines:
            for k, v in line.items():
                sys.stdout.write(f"{k.lower()}: {v}\n")
        sys.stdout.write("\n")
    sys.stdout.write(f"Total reclaimed space: {human_size(res.get('SpaceReclaimed', 0))}\n")
    return 0
