"""/images/... and /build: the image store, registries, archives and the builder."""

from __future__ import annotations

import asyncio
import base64
import json
import os

from aiohttp import web

from layerbox import _util
from layerbox.api import shapes, streams
from layerbox.api.app import ApiError, Service, json_response
from layerbox.api.streams import flag


def _svc(request) -> Service:
    return request.app["svc"]


def _auth(request) -> dict | None:
    """X-Registry-Auth: base64url JSON {"username", "password", ...} (or nothing)."""
    raw = request.headers.get("X-Registry-Auth")
    if not raw:
        return None
    try:
        doc = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except ValueError:
        raise ApiError(400, "invalid X-Registry-Auth header: not base64 JSON") from None
    return doc if isinstance(doc, dict) and doc.get("username") else None


def _list(svc, all_, flt, digests):
    images = svc.images
    for k in flt:
        if k not in ("dangling", "label", "reference", "before", "since"):
            raise ApiError(400, f"invalid filter '{k}'")
    used: dict = {}
    for c in svc.engine.list(all=True):
        used[c.config.get("Image")] = used.get(c.config.get("Image"), 0) + 1
    refs = images.refs()
    tagged = set(refs.values())
    parents = {images.record(i).get("Parent") for i in images.ids()}
    out = []
    for i in images.ids():
        if not all_ and i not in tagged and i in parents:
            continue  # an intermediate image (images -a shows them)
        out.append(shapes.image_summary(images, i, used.get(i, 0)))
    if "dangling" in flt:
        want = any(v.lower() in ("true", "1") for v in flt["dangling"])
        out = [d for d in out if (not d["RepoTags"]) == want]
    for lab in flt.get("label", ()):
        k, eq, v = lab.partition("=")
        out = [d for d in out if k in d["Labels"] and (not eq or d["Labels"][k] == v)]
    if flt.get("reference"):
        import fnmatch

        def ok(d):
            for t in d["RepoTags"]:
                repo = t.rpartition(":")[0]
                for pat in flt["reference"]:
                    if fnmatch.fnmatch(t, pat) or fnmatch.fnmatch(repo, pat) or \
                            fnmatch.fnmatch(t.split("/")[-1], pat) or fnmatch.fnmatch(repo.split("/")[-1], pat):
                        return True
            return False

        out = [d for d in out if ok(d)]
    for key, cmp in (("before", lambda a, b: a < b), ("since", lambda a, b: a > b)):
        for ref in flt.get(key, ()):
            t = shapes.image_summary(images, images.resolve(ref))["Created"]
            out = [d for d in out if cmp(d["Created"], t)]
    out.sort(key=lambda d: d["Created"], reverse=True)
    return out


async def list_(request):
    svc = _svc(request)
    return json_response(await svc.run(_list, svc, flag(request, "all"), streams.filters_of(request),
                                           flag(request, "digests")))


def _inspect(svc, name):
    from layerbox.image import views

    return views.inspect(svc.images, svc.images.resolve(name))


async def inspect(request):
    svc = _svc(request)
    return json_response(await svc.run(_inspect, svc, request.match_info["name"]))


async def history(request):
    from layerbox.image import views

    svc = _svc(request)
    i = await svc.run(svc.images.resolve, request.match_info["name"])
    return json_response(await svc.run(views.history, svc.images, i))


async def tag(request):
    svc = _svc(request)
    repo = request.query.get("repo") or ""
    if not repo:
        raise ApiError(400, "repository name must have at least one component")
    t = request.query.get("tag") or ""
    i = await svc.run(svc.images.resolve, request.match_info["name"])
    await svc.run(svc.images.tag, i, f"{repo}:{t}" if t else repo)
    return web.Response(status=201)


async def delete(request):
    svc = _svc(request)
    name = request.match_info["name"]
    res = await svc.run(svc.images.remove, name, force=flag(request, "force"),
                        prune=not flag(request, "noprune"))
    return json_response(res.lines)


async def prune(request):
    svc = _svc(request)
    flt = streams.filters_of(request)
    for k in flt:
        if k not in ("dangling", "label"):
            raise ApiError(400, f"invalid filter '{k}' (layerbox prunes by dangling and label)")
    dangling = not any(v.lower() in ("false", "0") for v in flt.get("dangling", ()))
    out = await svc.run(svc.images.prune, all_=not dangling, labels=tuple(flt.get("label", ())))
    return json_response(out)


def _name(repo: str, tag: str) -> str:
    if not tag:
        return repo
    return f"{repo}@{tag}" if tag.startswith("sha256:") else f"{repo}:{tag}"


async def create(request):
    """Pull (fromImage) or import (fromSrc: "-" for the body); progress as JSON lines."""
    svc = _svc(request)
    q = request.query
    if q.get("fromSrc"):
        return await _import(request, svc)
    image = q.get("fromImage") or ""
    if not image:
        raise ApiError(400, "fromImage or fromSrc is required")
    from layerbox.registry import api as _reg

    name = _name(image, q.get("tag") or "")
    auth = _auth(request)
    platform = q.get("platform") or None

    def work(emit):
        _reg.pull_image(svc.images, name, platform=platform, auth_config=auth, emit=emit)

    return await streams.json_lines(request, work, svc)


async def _import(request, svc):
    from layerbox.image.importer import import_tar

    q = request.query
    src = q.get("fromSrc")
    if src != "-":
        raise ApiError(400, f"importing from a URL is not supported by layerbox: {src} "
                            "(send the tar as the body with fromSrc=-)")
    repo = q.get("repo") or ""
    ref = _name(repo, q.get("tag") or "") if repo else None
    changes = q.getall("changes", [])
    message = q.get("message") or ""
    r, w = os.pipe2(os.O_CLOEXEC)
    path = f"/proc/self/fd/{r}"

    def work(emit):
        try:
            i = import_tar(svc.images, path, ref, changes, message)
        finally:
            os.close(r)
        emit({"status": i})

    feeder = asyncio.ensure_future(_feed_body(request, w, svc))
    try:
        return await streams.json_lines(request, work, svc)
    finally:
        await feeder


async def _feed_body(request, w: int, svc) -> None:
    """The request's body into the pipe w (closed at the end, or when its reader went away)."""
    try:
        async for chunk in request.content.iter_chunked(1 << 20):
            await svc.run(_util._write_all, w, chunk)
    except (BrokenPipeError, OSError):
        pass  # the reader stopped: its error is the answer
    finally:
        os.close(w)


async def push(request):
    from layerbox.registry import api as _reg

    svc = _svc(request)
    name = _name(request.match_info["name"], request.query.get("tag") or "")
    auth = _auth(request)

    def work(emit):
        pushed = _reg.push_image(svc.images, name, auth_config=auth, emit=emit)
        for t, digest, size in pushed:
            emit({"status": f"{t}: digest: {digest} size: {size}"})
            emit({"progressDetail": {}, "aux": {"Tag": t, "Digest": digest, "Size": size}})

    return await streams.json_lines(request, work, svc)


async def get(request):
    from layerbox.image import archive

    svc = _svc(request)
    names = [request.match_info["name"]] if "name" in request.match_info else request.query.getall("names", [])
    if not names:
        raise ApiError(400, "names is required")
    gen = await svc.run(archive.save_chunks, svc.images, names)
    return await streams.tar_response(request, svc, gen)


async def load(request):
    from layerbox.image import archive

    svc = _svc(request)
    r, w = os.pipe2(os.O_CLOEXEC)

    def work(emit):
        try:
            lines = archive.load_fd(svc.images, r)
        finally:
            os.close(r)
        for line in lines:
            emit({"stream": line + "\n"})  # quiet drops progress only, as dockerd's

    feeder = asyncio.ensure_future(_feed_body(request, w, svc))
    try:
        return await streams.json_lines(request, work, svc)
    finally:
        await feeder


async def build(request):
    """A tar context as the body; docker's classic builder's output as {"stream"} lines, the
    image as {"aux": {"ID"}}, a failure as {"errorDetail"}."""
    from layerbox.builder import api as _build
    from layerbox.builder.dispatch import BuildOptions

    svc = _svc(request)
    q = request.query
    if q.get("remote"):
        raise ApiError(400, f"remote build contexts are not supported by layerbox: {q.get('remote')} "
                            "(send the context as a tar)")
    for k in ("cpuperiod", "cpuquota", "cpusetcpus", "cpusetmems", "cpushares", "memory",
              "memswap", "shmsize", "squash", "cachefrom", "extrahosts", "isolation", "outputs"):
        v = q.get(k)
        if v and v not in ("0", "[]", "false", "null", "{}", "-1"):
            raise ApiError(400, f"the build parameter {k} is not supported by layerbox")
    if q.get("version") == "2":
        raise ApiError(400, "BuildKit (version=2) is not supported by layerbox; the classic builder is")
    platform = q.get("platform")
    if platform and platform not in ("linux", "linux/amd64", "amd64"):
        raise ApiError(400, f"platform {platform} is not supported here (linux/amd64 only)")

    def jparam(name):
        v = q.get(name)
        if not v:
            return None
        try:
            return json.loads(v)
        except ValueError:
            raise ApiError(400, f"invalid JSON in {name}") from None

    options = BuildOptions(tags=q.getall("t", []), buildargs=jparam("buildargs"),
                           target=q.get("target") or None, nocache=flag(request, "nocache"),
                           pull=flag(request, "pull"), labels=jparam("labels"),
                           network_mode=q.get("networkmode") or None,
                           rm=flag(request, "rm", True), forcerm=flag(request, "forcerm"),
                           quiet=flag(request, "q"))
    dockerfile = q.get("dockerfile") or None
    r, w = os.pipe2(os.O_CLOEXEC)

    class Out(_build.LogOutput):
        def __init__(self, emit):
            super().__init__()
            self.emit = emit

        def write(self, text: str) -> None:
            if not options.quiet:
                self.emit({"stream": text})

    def work(emit):
        try:
            prepared = _build.prepare(svc.store, tar_fd=r, dockerfile=dockerfile)
        finally:
            os.close(r)
        with prepared:
            image_id = _build.run_build(_build.Services(svc.engine), prepared, options, Out(emit))
        if options.quiet:
            emit({"stream": image_id + "\n"})
        emit({"aux": {"ID": image_id}})

    feeder = asyncio.ensure_future(_feed_body(request, w, svc))
    try:
        return await streams.json_lines(request, work, svc)
    finally:
        await feeder


async def prune_build(request):
    return json_response({"CachesDeleted": None, "SpaceReclaimed": 0})


def register(r) -> None:
    r.add("GET", "/images/json", list_)
    r.add("POST", "/images/create", create)
    r.add("POST", "/images/load", load)
    r.add("POST", "/images/prune", prune)
    r.add("GET", "/images/get", get)
    r.add("POST", "/build", build)
    r.add("POST", "/build/prune", prune_build)
    n = "/images/{name:.+}"
    r.add("GET", n + "/json", inspect)
    r.add("GET", n + "/history", history)
    r.add("POST", n + "/tag", tag)
    r.add("POST", n + "/push", push)
    r.add("GET", n + "/get", get)
    r.add("DELETE", n, delete)
