"""Image references ("busybox", "localhost:5000/team/app:1.2", "app@sha256:...") as docker
parses and normalizes them, without importing ``re`` (this runs on every `run`)."""

from __future__ import annotations

from layerbox.errors import InvalidArgument

DEFAULT_TAG = "latest"
_DEFAULT_DOMAIN = "docker.io"
_LOWER_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_TAG_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
_HEX = frozenset("0123456789abcdef")


class Reference:
    """A parsed reference. ``name`` is the repository in docker's familiar (short) form."""

    __slots__ = ("domain", "path", "tag", "digest")

    def __init__(self, domain: str, path: str, tag: str | None, digest: str | None):
        self.domain = domain
        self.path = path
        self.tag = tag
        self.digest = digest

    @property
    def name(self) -> str:
        """Familiar name: docker.io/library/busybox -> busybox, docker.io/x/y -> x/y."""
        if self.domain == _DEFAULT_DOMAIN:
            if self.path.startswith("library/") and self.path.count("/") == 1:
                return self.path[8:]
            return self.path
        return f"{self.domain}/{self.path}" if self.domain else self.path

    @property
    def full_name(self) -> str:
        return f"{self.domain or _DEFAULT_DOMAIN}/{self.path}"

    def tagged(self) -> str:
        """name:tag, defaulting the tag to latest (how refs are keyed in the store)."""
        return f"{self.name}:{self.tag or DEFAULT_TAG}"

    def __str__(self) -> str:
        s = self.name
        if self.tag:
            s += ":" + self.tag
        if self.digest:
            s += "@" + self.digest
        return s


def _valid_path_component(c: str) -> bool:
    """[a-z0-9]+ joined by separators ".", "_", "__" or a run of "-" (docker's grammar)."""
    if not c or c[0] not in _LOWER_ALNUM or c[-1] not in _LOWER_ALNUM:
        return False
    sep = ""
    for ch in c + "a":  # a trailing alnum closes the last separator run
        if ch in _LOWER_ALNUM:
            if sep and not (sep in (".", "_", "__") or set(sep) == {"-"}):
                return False
            sep = ""
        elif ch in "._-":
            sep += ch
        else:
            return False
    return True


def parse(ref: str) -> Reference:
    """Parses and validates; raises InvalidArgument with docker's wording."""
    if not ref:
        raise InvalidArgument("invalid reference format: repository name must have at least one component")
    s = ref
    digest = None
    if "@" in s:
        s, digest = s.split("@", 1)
        algo, _, hexpart = digest.partition(":")
        if algo != "sha256" or len(hexpart) != 64 or not set(hexpart) <= _HEX:
            raise InvalidArgument(f"invalid reference format: bad digest in {ref!r}")
    tag = None
    slash = s.rfind("/")
    colon = s.rfind(":")
    if colon > slash:
        s, tag = s[:colon], s[colon + 1:]
        if not tag or len(tag) > 128 or not set(tag) <= _TAG_CHARS or tag[0] in ".-":
            raise InvalidArgument(f"invalid reference format: bad tag in {ref!r}")
    domain = ""
    parts = s.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"
                           or parts[0] != parts[0].lower()):
        domain = parts[0]
        parts = parts[1:]
        if not domain or any(c.isspace() for c in domain):
            raise InvalidArgument(f"invalid reference format: bad domain in {ref!r}")
    for p in parts:
        if not _valid_path_component(p):
            if p != p.lower():
                raise InvalidArgument(f"invalid reference format: repository name ({ref}) must be lowercase")
            raise InvalidArgument(f"invalid reference format: {ref!r}")
    path = "/".join(parts)
    if len(path) + len(domain) > 255:
        raise InvalidArgument("invalid reference format: repository name must not be more than 255 characters")
    if not domain:
        domain = _DEFAULT_DOMAIN
        if "/" not in path:
            path = "library/" + path
    return Reference(domain, path, tag, digest)


def normalize(ref: str) -> str:
    """The key the store uses: "busybox" -> "busybox:latest"."""
    return parse(ref).tagged()


def looks_like_id(s: str) -> bool:
    h = s[7:] if s.startswith("sha256:") else s
    return 0 < len(h) <= 64 and set(h) <= _HEX
