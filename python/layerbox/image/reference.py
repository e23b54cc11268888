"""Image references ("busybox", "localhost:5000/team/app:1.2", "app@sha256:...") as docker
parses and normalizes them, without importing ``re`` (this runs on every `run`)."""

from __future__ import annotations

from layerbox.errors import InvalidArgument

DEFAULT_TAG = "latest"
_DEFAULT_DOMAIN = "docker.io"
_LOWER_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_TAG_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
_HEX = frozenset("0123456789abcdef")
_XDIGIT = frozenset("0123456789abcdefABCDEF")
_IPV6 = frozenset("0123456789abcdefABCDEF:")
_DOMAIN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")
_FORMAT = "invalid reference format"


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


def _valid_remote(path: str) -> bool:
    return all(_valid_path_component(c) for c in path.split("/"))


def _valid_domain(d: str) -> bool:
    """host[:port]: host a DNS-like name ([a-zA-Z0-9] components, inner "-", joined by ".")
    or an IPv6 address in brackets (regexp.go's domainAndPort)."""
    if d.startswith("["):
        j = d.find("]")
        if j < 3 or not set(d[1:j]) <= _IPV6:
            return False
        port = d[j + 1:]
        if port and (port[0] != ":" or not port[1:].isdigit() or not port[1:].isascii()):
            return False
        return True
    host, colon, port = d.partition(":")
    if colon and not (port.isdigit() and port.isascii()):
        return False
    for comp in host.split("."):
        if not comp or not set(comp) <= _DOMAIN_CHARS or comp[0] == "-" or comp[-1] == "-":
            return False
    return True


def _valid_name(name: str) -> bool:
    """name := [domain "/"] path-component ["/" path-component]*"""
    if _valid_remote(name):
        return True
    first, slash, rest = name.partition("/")
    return bool(slash) and _valid_domain(first) and _valid_remote(rest)


def _check_digest(d: str) -> None:
    """go-digest's Parse after the reference grammar's digest pattern."""
    algo, colon, hexpart = d.partition(":")
    comps = algo.replace("+", "-").replace(".", "-").replace("_", "-").split("-")
    if (not colon or len(hexpart) < 32 or not set(hexpart) <= _XDIGIT
            or not all(c and c[0].isalpha() and c.isascii() and c.isalnum() for c in comps)):
        raise InvalidArgument(_FORMAT)
    if algo != "sha256":
        raise InvalidArgument("unsupported digest algorithm")
    if len(hexpart) != 64:
        raise InvalidArgument("invalid checksum digest length")
    if not set(hexpart) <= _HEX:
        raise InvalidArgument("invalid checksum digest format")


def _split_domain(s: str) -> tuple[str, str]:
    """docker's splitDockerDomain: (domain, the rest) of a familiar or full name."""
    first, slash, rest = s.partition("/")
    if not slash:
        return _DEFAULT_DOMAIN, "library/" + s
    if first == "localhost" or "." in first or ":" in first or first != first.lower():
        domain, rest = first, rest
    else:
        domain, rest = _DEFAULT_DOMAIN, s
    if first == "index.docker.io":
        domain = _DEFAULT_DOMAIN
    if domain == _DEFAULT_DOMAIN and "/" not in rest.split("@", 1)[0].split(":", 1)[0]:
        rest = "library/" + rest
    return domain, rest


def parse(ref: str) -> Reference:
    """A reference as docker's ParseNormalizedNamed reads it (distribution/reference's grammar
    and messages); raises InvalidArgument with docker's wording."""
    if not ref:
        raise InvalidArgument("invalid reference format: repository name must have at least one component")
    if len(ref) == 64 and set(ref) <= _HEX:
        raise InvalidArgument(f"invalid repository name ({ref}), cannot specify 64-byte hexadecimal strings")
    domain, rest = _split_domain(ref)
    remote = rest.split(":", 1)[0]
    if remote != remote.lower():
        raise InvalidArgument(f"invalid reference format: repository name ({remote}) must be lowercase")
    s = f"{domain}/{rest}"
    name, at, digest = s.partition("@")
    tag = None
    slash, colon = name.rfind("/"), name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1:]
        if (not tag or len(tag) > 128 or not set(tag) <= _TAG_CHARS or tag[0] in ".-"):
            raise InvalidArgument(_FORMAT)
    if not _valid_name(name):
        if _valid_name(name.lower()):
            raise InvalidArgument(_FORMAT + ": repository name must be lowercase")
        raise InvalidArgument(_FORMAT)
    if at:
        _check_digest(digest)
    if len(name) > 255:
        raise InvalidArgument("invalid reference format: repository name must not be more than 255 characters")
    d, _, path = name.partition("/")
    return Reference(d, path, tag, digest if at else None)


def parse_tag_target(name: str) -> Reference:
    """A name to create a tag with (tag, commit, import, build -t, load's RepoTags): a reference
    with no digest, as docker's ImageTag requires."""
    r = parse(name)
    if r.digest:
        raise InvalidArgument("refusing to create a tag with a digest reference")
    return r


def parse_any(ref: str) -> Reference | None:
    """docker's ParseAnyReference: an image ID (64 hex, or sha256:<64 hex>; None) or a name."""
    if len(ref) == 64 and set(ref) <= _HEX:
        return None
    if ref.startswith("sha256:") and len(ref) == 71 and set(ref[7:]) <= _HEX:
        return None
    return parse(ref)


def normalize(ref: str) -> str:
    """The key the store uses: "busybox" -> "busybox:latest"."""
    return parse(ref).tagged()


def tag_key(name: str) -> str:
    """The store's key for a tag to be created: parse_tag_target(name).tagged()."""
    return parse_tag_target(name).tagged()


def looks_like_id(s: str) -> bool:
    h = s[7:] if s.startswith("sha256:") else s
    return 0 < len(h) <= 64 and set(h) <= _HEX
