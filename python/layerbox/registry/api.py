"""pull, push, login and logout: what the CLI and the Docker-SDK-shaped client call.

Progress is a stream of docker's JSON messages (``{"status": "Pull complete", "id":
"a1b2c3d4e5f6", "progressDetail": {}}``) handed to an ``emit`` callback; the CLI prints them
as docker's CLI does when its output is not a terminal, the SDK's push returns or yields them.
"""

from __future__ import annotations

import threading

from layerbox.errors import InvalidArgument
from layerbox.image import reference
from layerbox.image.store import image_event
from layerbox.registry import credentials
from layerbox.registry.transport import Registry, RegistryError, endpoint


def discard(_event: dict) -> None:
    """The progress sink of a quiet pull or push."""


def open_registry(domain: str, *, pull: bool = False, auth_config: dict | None = None) -> Registry:
    """The registry of a reference's domain, with the credentials of auth_config
    ({"username", "password"}) or else those `layerbox login` stored."""
    if auth_config and auth_config.get("username"):
        creds = (auth_config["username"], auth_config.get("password") or "")
    else:
        creds = credentials.get(domain)
    return Registry(endpoint(domain, pull=pull), creds)


def serialized(emit):
    """emit made safe to call from the worker threads of a pull or push."""
    lock = threading.Lock()

    def call(event: dict) -> None:
        with lock:
            emit(event)

    return call


# -- pull ----------------------------------------------------------------------------------

def pull_image(images, name: str, *, all_tags: bool = False, platform: str | None = None,
               auth_config: dict | None = None, emit=discard) -> list[tuple[str, str]]:
    """Pulls NAME[:TAG|@DIGEST] (latest when neither is given), or every tag of NAME with
    all_tags. Returns [(image id, the full reference pulled)]; the last event is docker's
    "Status: ..." line."""
    from layerbox.registry.pull import Puller

    r = reference.parse(name)
    if all_tags and (r.tag or r.digest):
        raise InvalidArgument("tag can't be used with --all-tags/-a")
    emit = serialized(emit)
    images.store.ensure()  # before worker threads stage into it
    with open_registry(r.domain, pull=True, auth_config=auth_config) as reg:
        puller = Puller(images, reg, r, emit, platform)
        if r.digest:
            wants = [r.digest]
        elif all_tags:
            wants = puller.tags()
        else:
            wants = [r.tag or reference.DEFAULT_TAG]
        out, changed = [], False
        for w in wants:
            image_id, _digest, ch = puller.pull(w)
            changed = changed or ch
            sep = "@" if w.startswith("sha256:") else ":"
            out.append((image_id, f"{r.full_name}{sep}{w}"))
            # moby's pull event: the actor is the (familiar) reference, not the image
            image_event(images.store, "pull", f"{r.name}{sep}{w}")
    if all_tags:
        shown = r.name
    else:
        shown = f"{r.name}@{r.digest}" if r.digest else f"{r.name}:{wants[0]}"
    emit({"status": f"Status: {'Downloaded newer image' if changed else 'Image is up to date'} for {shown}"})
    return out


def pull(images, repository: str, tag: str | None = None, all_tags: bool = False,
         platform: str | None = None, auth_config: dict | None = None) -> list[str]:
    """The SDK's images.pull() into the image store ``images``: the IDs of the images pulled,
    each once, in the order pulled."""
    name = repository
    if tag:
        name = f"{repository}@{tag}" if tag.startswith("sha256:") else f"{repository}:{tag}"
    got: list[str] = []
    for image_id, _ref in pull_image(images, name, all_tags=all_tags, platform=platform,
                                     auth_config=auth_config):
        if image_id not in got:
            got.append(image_id)
    return got


def pull_stream(images, repository: str, tag: str | None = None, all_tags: bool = False,
                platform: str | None = None, auth_config: dict | None = None, decode: bool = False):
    """The API client's pull(stream=True): docker's progress messages as they come (JSON
    lines, or dicts with decode=True), per-layer "Downloading" progress included; a failure
    is the last message, as docker's."""
    from layerbox import _jsonfast

    name = repository
    if tag:
        name = f"{repository}@{tag}" if tag.startswith("sha256:") else f"{repository}:{tag}"
    gen = events(lambda emit: pull_image(images, name, all_tags=all_tags, platform=platform,
                                         auth_config=auth_config, emit=emit))
    return gen if decode else ((_jsonfast.dumps(e) + "\r\n").encode() for e in gen)


# -- push ----------------------------------------------------------------------------------

def push_image(images, name: str, *, all_tags: bool = False, auth_config: dict | None = None,
               emit=discard) -> list[tuple[str, str, int]]:
    """Pushes NAME[:TAG] (latest when no tag is given), or every tag of NAME in the store with
    all_tags. Returns [(tag, manifest digest, manifest size)]."""
    from layerbox.errors import ImageNotFound
    from layerbox.registry.push import Pusher

    r = reference.parse(name)
    if r.digest:
        raise InvalidArgument(f"cannot push a digest reference: {name}")
    if all_tags and r.tag:
        raise InvalidArgument("tag can't be used with --all-tags/-a")
    emit = serialized(emit)
    with open_registry(r.domain, auth_config=auth_config) as reg:
        pusher = Pusher(images, reg, r, emit)
        tags = pusher.tags() if all_tags else [r.tag or reference.DEFAULT_TAG]
        if not tags:
            raise ImageNotFound(f"An image does not exist locally with the tag: {r.name}")
        emit({"status": f"The push refers to repository [{r.domain}/{r.path}]"})
        out = []
        for t in tags:
            out.append((t, *pusher.push(t)))
            image_event(images.store, "push", f"{r.name}:{t}")
        return out


def events(run):
    """run(emit) in a thread, its events as a generator; a failure becomes docker's error
    message, the last item (the SDK's push does not raise for those)."""
    import queue

    q: queue.Queue = queue.Queue()
    end = object()

    def work():
        try:
            run(q.put)
        except Exception as e:  # noqa: BLE001 - reported in-band, as docker does
            q.put({"errorDetail": {"message": str(e)}, "error": str(e)})
        finally:
            q.put(end)

    t = threading.Thread(target=work, daemon=True)
    t.start()
    try:
        while True:
            item = q.get()
            if item is end:
                return
            yield item
    finally:
        t.join()


def push(images, repository: str, tag: str | None = None, stream: bool = False, decode: bool = False,
         **kwargs):
    """The SDK's images.push(): the progress as a string of JSON lines, or with stream=True a
    generator of them (of dicts with decode=True)."""
    from layerbox import _jsonfast

    name = f"{repository}:{tag}" if tag else repository
    gen = events(lambda emit: push_image(images, name, auth_config=kwargs.get("auth_config"),
                                         all_tags=bool(kwargs.get("all_tags")), emit=emit))
    if stream:
        return gen if decode else ((_jsonfast.dumps(e) + "\r\n").encode() for e in gen)
    return "".join(_jsonfast.dumps(e) + "\r\n" for e in gen)


# -- login / logout ------------------------------------------------------------------------

def login(server: str | None, username: str, password: str) -> str:
    """Checks the credentials against the registry (GET /v2/ answering its challenge: Basic,
    or a token from its realm), then stores them. Returns the file they are stored in."""
    domain = credentials.server_key(server or credentials.HUB_KEY)
    with Registry(endpoint(domain), (username, password)) as reg:
        resp = reg.ping()
        resp.read()
        if resp.status == 401:
            raise RegistryError(f"login attempt to {reg.ep.base}/v2/ failed with status: 401 Unauthorized",
                                401, "UNAUTHORIZED")
    return credentials.store(domain, username, password)


def logout(server: str | None) -> tuple[str, bool]:
    """Forgets the server's credentials. Returns (its name, whether there were any)."""
    domain = credentials.server_key(server or credentials.HUB_KEY)
    return domain, credentials.remove(domain)


def pull_on_miss(name: str) -> bool:
    """Whether `run`/`create` pull an image the store lacks: when its reference names a
    registry (localhost:5000/x, registry.example.com/x), or names Docker Hub while
    LAYERBOX_REGISTRY_MIRROR says where its images are (there is no Docker Hub here, and a
    bare name that is a typo should fail at once, not after a network timeout)."""
    import os

    try:
        r = reference.parse(name)
    except InvalidArgument:
        return False
    if reference.looks_like_id(name) and "/" not in name and ":" not in name:
        return False
    return r.domain != "docker.io" or bool(os.environ.get("LAYERBOX_REGISTRY_MIRROR"))
