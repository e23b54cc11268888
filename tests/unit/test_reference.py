"""Image references as docker's distribution/reference reads them (regexp.go, normalize.go)."""

from __future__ import annotations

import pytest

from layerbox.errors import InvalidArgument
from layerbox.image import reference

H = "a" * 64


@pytest.mark.parametrize("ref,domain,path,tag,digest", [
    ("busybox", "docker.io", "library/busybox", None, None),
    ("busybox:1.36", "docker.io", "library/busybox", "1.36", None),
    ("team/app", "docker.io", "team/app", None, None),
    ("docker.io/busybox", "docker.io", "library/busybox", None, None),
    ("index.docker.io/team/app:1", "docker.io", "team/app", "1", None),
    ("localhost/app", "localhost", "app", None, None),
    ("localhost:5000/a/b:_x.y-z", "localhost:5000", "a/b", "_x.y-z", None),
    ("[::1]:5000/app", "[::1]:5000", "app", None, None),
    ("Registry.Example.com/app", "Registry.Example.com", "app", None, None),
    ("a.b-c/x__y/z---w", "a.b-c", "x__y/z---w", None, None),
    (f"app@sha256:{H}", "docker.io", "library/app", None, f"sha256:{H}"),
    (f"app:1@sha256:{H}", "docker.io", "library/app", "1", f"sha256:{H}"),
    ("localhost:5000", "docker.io", "library/localhost", "5000", None),  # a name with a tag, as docker
])
def test_valid(ref, domain, path, tag, digest):
    r = reference.parse(ref)
    assert (r.domain, r.path, r.tag, r.digest) == (domain, path, tag, digest)


@pytest.mark.parametrize("ref,message", [
    ("../x", "invalid reference format"),
    ("x:../y", "invalid reference format"),
    ("x!y.com/z", "invalid reference format"),
    ("a/../b", "invalid reference format"),
    ("a//b", "invalid reference format"),
    ("-a.com/x", "invalid reference format"),
    ("a.com:/x", "invalid reference format"),
    ("a.com:12x/x", "invalid reference format"),
    ("x_/y", "invalid reference format"),
    ("x:", "invalid reference format"),
    ("x:.y", "invalid reference format"),
    ("x:" + "t" * 129, "invalid reference format"),
    ("x y", "invalid reference format"),
    ("Upper", "invalid reference format: repository name (library/Upper) must be lowercase"),
    ("a.com/Upper:1", "invalid reference format: repository name (Upper) must be lowercase"),
    ("", "invalid reference format: repository name must have at least one component"),
    (H, f"invalid repository name ({H}), cannot specify 64-byte hexadecimal strings"),
    ("x@sha256:abc", "invalid reference format"),
    ("x@md5:" + "a" * 32, "unsupported digest algorithm"),
    ("x@sha256:" + "a" * 63 + "A", "invalid checksum digest format"),
    ("x@sha256:" + "a" * 66, "invalid checksum digest length"),
    ("a/" + "b" * 300, "invalid reference format: repository name must not be more than 255 characters"),
])
def test_invalid(ref, message):
    with pytest.raises(InvalidArgument) as e:
        reference.parse(ref)
    assert str(e.value) == message


def test_a_tag_is_never_made_from_a_digest_reference():
    with pytest.raises(InvalidArgument) as e:
        reference.tag_key(f"x@sha256:{H}")
    assert str(e.value) == "refusing to create a tag with a digest reference"
    assert reference.tag_key("x") == "x:latest"
    assert reference.parse_any(H) is None and reference.parse_any(f"sha256:{H}") is None
