"""The shape of JSON documents that come from outside: archives, registries, the store's files.

Everything a JSON document says is data from someone else (an archive, a registry, a file a
crash or a person may have damaged), so each is checked against a small declarative shape
before any field is used, and a mismatch is one clear error naming the document, the place in
it and what was expected, instead of a traceback or a silent misreading (a ``"RepoTags":
"abc"`` iterated as three tags)::

    MANIFEST = [{"Config": Req(str), "RepoTags": [str], "Layers": Req([str])}]
    items = shape.load(data, MANIFEST, "manifest.json", ImageLoadError, "invalid archive: ")

Shapes: ``str``, ``int`` (not bool), ``bool``, ``float`` (any number), ``dict`` / ``list``
(any object / array), ``[S]`` (an array of S), ``{"key": S}`` (an object whose listed keys, when
present and not null, are S; other keys pass), ``MapOf(S)`` (an object whose every value is
S), ``Req(S)`` (present and not null), ``Digest`` (``sha256:<64 hex>``), ``OneOf(...)``.
"""

from __future__ import annotations

from layerbox import _jsonfast
from layerbox.errors import LayerboxError

_HEX = frozenset("0123456789abcdef")


class Req:
    """A key that must be present and not null."""

    __slots__ = ("shape",)

    def __init__(self, shape):
        self.shape = shape


class MapOf:
    """An object whose every value has the shape (keys are strings in JSON anyway)."""

    __slots__ = ("shape",)

    def __init__(self, shape):
        self.shape = shape


class OneOf:
    """A string among the given values."""

    __slots__ = ("values",)

    def __init__(self, *values):
        self.values = values


class _Digest:
    """"sha256:" and 64 lower-case hex digits: the only digests the store keeps."""


Digest = _Digest()


def _kind(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, (int, float)):
        return f"a number ({v!r})"
    if isinstance(v, str):
        s = v if len(v) <= 40 else v[:37] + "..."
        return f"a string ({s!r})"
    if isinstance(v, list):
        return "an array"
    if isinstance(v, dict):
        return "an object"
    return type(v).__name__


def _expected(shape) -> str:
    if shape is str:
        return "a string"
    if shape is int:
        return "an integer"
    if shape is bool:
        return "a boolean"
    if shape is float:
        return "a number"
    if shape is dict or isinstance(shape, (dict, MapOf)):
        return "an object"
    if shape is list or isinstance(shape, list):
        return "an array"
    if isinstance(shape, Req):
        return _expected(shape.shape)
    if isinstance(shape, OneOf):
        return "one of " + ", ".join(repr(v) for v in shape.values)
    if shape is Digest:
        return "a sha256 digest"
    return str(shape)


class ShapeError(ValueError):
    """Where (a path like ``[0].Layers[1]``) and what is wrong."""

    def __init__(self, where: str, problem: str):
        super().__init__(f"{where}: {problem}" if where else problem)
        self.where = where
        self.problem = problem


def _fail(where: str, value, shape):
    raise ShapeError(where, f"{_kind(value)} where {_expected(shape)} was expected")


def _walk(v, shape, where: str) -> None:
    if shape is str:
        if not isinstance(v, str):
            _fail(where, v, shape)
    elif shape is int:
        if not isinstance(v, int) or isinstance(v, bool):
            _fail(where, v, shape)
    elif shape is float:
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            _fail(where, v, shape)
    elif shape is bool:
        if not isinstance(v, bool):
            _fail(where, v, shape)
    elif shape is dict:
        if not isinstance(v, dict):
            _fail(where, v, shape)
    elif shape is list:
        if not isinstance(v, list):
            _fail(where, v, shape)
    elif isinstance(shape, list):
        if not isinstance(v, list):
            _fail(where, v, shape)
        for i, item in enumerate(v):
            _walk(item, shape[0], f"{where}[{i}]")
    elif isinstance(shape, dict):
        if not isinstance(v, dict):
            _fail(where, v, shape)
        for key, sub in shape.items():
            val = v.get(key)
            at = f"{where}.{key}" if where else key
            if val is None:
                if isinstance(sub, Req):
                    raise ShapeError(at, "missing" if key not in v else "null where "
                                     f"{_expected(sub)} was expected")
                continue
            _walk(val, sub.shape if isinstance(sub, Req) else sub, at)
    elif isinstance(shape, MapOf):
        if not isinstance(v, dict):
            _fail(where, v, shape)
        for key, val in v.items():
            if val is not None:  # Go's decoder leaves a null as the zero value, as docker reads it
                _walk(val, shape.shape, f"{where}[{key!r}]")
    elif isinstance(shape, Req):
        if v is None:
            _fail(where, v, shape)
        _walk(v, shape.shape, where)
    elif isinstance(shape, OneOf):
        if v not in shape.values:
            _fail(where, v, shape)
    elif shape is Digest:
        if not (isinstance(v, str) and v.startswith("sha256:") and len(v) == 71 and set(v[7:]) <= _HEX):
            _fail(where, v, shape)
    else:  # a programming error, not bad input
        raise TypeError(f"unknown shape {shape!r}")


def check(doc, shape, what: str, error=LayerboxError, prefix: str = ""):
    """doc if it has the shape, else error(prefix + "<what>: <where>: <problem>")."""
    try:
        _walk(doc, shape, "")
    except ShapeError as e:
        raise error(f"{prefix}{what}: {e}") from None
    return doc


def parse(data, what: str, error=LayerboxError, prefix: str = ""):
    """JSON text (bytes or str) to a value, or error(prefix + "<what> is not valid JSON ...")."""
    try:
        return _jsonfast.loads(data)
    except (ValueError, RecursionError) as e:
        # UnicodeDecodeError is a ValueError; RecursionError: nesting deeper than Python's stack.
        why = "nested too deeply" if isinstance(e, RecursionError) else "not valid JSON"
        if isinstance(e, UnicodeDecodeError):
            why = "not valid JSON (not UTF-8)"
        raise error(f"{prefix}{what} is {why}") from None


def load(data, shape, what: str, error=LayerboxError, prefix: str = ""):
    """parse() then check()."""
    return check(parse(data, what, error, prefix), shape, what, error, prefix)


def read(path: str, shape, what: str | None = None, error=LayerboxError, prefix: str = ""):
    """A JSON file of the store, checked. FileNotFoundError passes through (callers treat a
    missing file as their own case); anything unreadable or misshapen is `error`."""
    with open(path, "rb") as f:
        data = f.read()
    return load(data, shape, what or path, error, prefix)


def damaged(msg: str) -> LayerboxError:
    """The error for a store file of the wrong shape (a crash, a disk error or a hand edit)."""
    return LayerboxError(f"the store is damaged: {msg}")


# -- shapes shared by several readers ---------------------------------------------------------

# The store's own files (layerbox.store): what each reader relies on.
REFS = MapOf(str)
IMAGE_RECORD = {"Id": Req(str), "Parent": str, "Layers": Req([Digest]), "RepoDigests": [str],
                "Size": int}
LAYER_META = {"DiffID": Req(Digest), "Size": int, "TarSize": int}
CONTAINER_CONFIG_FILE = {"Image": str, "Layers": [str], "Config": Req(dict), "HostConfig": dict,
                         "Name": str}
CONTAINER_STATE_FILE = {"Status": str, "Pid": int, "ExitCode": int}

# An image config (OCI image-spec config.md / docker's image JSON): the fields layerbox reads.
# Refused rather than mended: its bytes are the image ID, and docker refuses them too.
HEALTHCHECK = {"Test": [str], "Interval": int, "Timeout": int, "StartPeriod": int,
               "StartInterval": int, "Retries": int}
CONTAINER_CONFIG = {
    "User": str, "ExposedPorts": dict, "Env": [str], "Entrypoint": [str], "Cmd": [str],
    "Volumes": dict, "WorkingDir": str, "Labels": MapOf(str), "StopSignal": str,
    "ArgsEscaped": bool, "Healthcheck": HEALTHCHECK, "OnBuild": [str], "Shell": [str],
    "Hostname": str, "Domainname": str, "StopTimeout": int,
}
IMAGE_CONFIG = {
    "architecture": str, "os": str, "variant": str, "created": str, "author": str,
    "config": CONTAINER_CONFIG, "container_config": dict,
    "rootfs": Req({"type": str, "diff_ids": Req([Digest])}),
    "history": [{"created": str, "created_by": str, "author": str, "comment": str,
                 "empty_layer": bool}],
}

# An OCI descriptor (image-spec descriptor.md).
DESCRIPTOR = {"mediaType": str, "digest": Req(Digest), "size": Req(int), "annotations": MapOf(str),
              "platform": {"os": str, "architecture": str, "variant": str}, "urls": [str]}
# An OCI image index or docker manifest list; an image manifest.
INDEX = {"schemaVersion": int, "mediaType": str, "manifests": [DESCRIPTOR], "annotations": MapOf(str)}
MANIFEST = {"schemaVersion": int, "mediaType": str, "config": DESCRIPTOR, "layers": [DESCRIPTOR],
            "annotations": MapOf(str)}
