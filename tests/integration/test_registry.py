"""pull, push, login and logout against a real registry (Debian's docker-registry, the
distribution project's server), and skopeo reading what we push and writing what we pull."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.client
import http.server
import json
import os
import re
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.error
import urllib.request

import pytest

from conftest import Cli, tool

pytestmark = pytest.mark.privileged

USER, PASSWORD = "tester", "s3cret-pw"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Registry:
    """A docker-registry serving a temp dir on 127.0.0.1 (plain http: loopback is insecure
    by default, for docker and for us)."""

    def __init__(self, base, htpasswd: str | None = None, token: "TokenServer | None" = None,
                 tls: tuple[str, str] | None = None):
        self.dir = base
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.scheme = "https" if tls else "http"
        auth = f"auth:\n  htpasswd:\n    realm: layerbox-test\n    path: {htpasswd}\n" if htpasswd else ""
        if token:
            auth = (f"auth:\n  token:\n    realm: {token.realm}\n    service: {token.SERVICE}\n"
                    f"    issuer: {token.ISSUER}\n    rootcertbundle: {token.cert}\n")
        config = (f"version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
                  f"storage:\n  filesystem:\n    rootdirectory: {base}/data\n  delete:\n    enabled: true\n"
                  f"http:\n  addr: {self.host}\n{auth}")
        if tls:
            config += f"  tls:\n    certificate: {tls[0]}\n    key: {tls[1]}\n"
        with open(os.path.join(base, "config.yml"), "w") as f:
            f.write(config)
        self.log = open(os.path.join(base, "log"), "wb")
        self.proc = subprocess.Popen([tool("docker-registry"), "serve", os.path.join(base, "config.yml")],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while True:
            try:
                urllib.request.urlopen(f"{self.scheme}://{self.host}/v2/", timeout=2,
                                       context=ssl._create_unverified_context()).close()
                break
            except urllib.error.HTTPError:
                break  # 401: up, and asking for credentials
            except OSError:
                if time.time() > deadline or self.proc.poll() is not None:
                    self.stop()
                    raise RuntimeError(f"docker-registry did not start: {open(self.log.name).read()}")
                time.sleep(0.05)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()

    def blob_file(self, digest: str) -> str:
        h = digest.split(":", 1)[1]
        return os.path.join(self.dir, "data", "docker", "registry", "v2", "blobs", "sha256", h[:2], h, "data")

    # -- raw API access, for what the tests set up by hand
    def call(self, method, path, data=None, headers=None):
        req = urllib.request.Request(f"http://{self.host}{path}", data=data, method=method, headers=headers or {})
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, dict(r.headers), r.read()

    def put_blob(self, repo, data: bytes) -> dict:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        _s, h, _b = self.call("POST", f"/v2/{repo}/blobs/uploads/", b"")
        loc = h["Location"]
        sep = "&" if "?" in loc else "?"
        req = urllib.request.Request(f"{loc}{sep}digest={digest}", data=data, method="PUT",
                                     headers={"Content-Type": "application/octet-stream"})
        urllib.request.urlopen(req, timeout=30).close()
        return {"digest": digest, "size": len(data)}

    def put_manifest(self, repo, ref, doc: dict, media_type: str) -> dict:
        data = json.dumps(doc).encode()
        self.call("PUT", f"/v2/{repo}/manifests/{ref}", data, {"Content-Type": media_type})
        return {"mediaType": media_type, "digest": "sha256:" + hashlib.sha256(data).hexdigest(), "size": len(data)}

    def manifest(self, repo, ref):
        _s, h, body = self.call("GET", f"/v2/{repo}/manifests/{ref}", headers={
            "Accept": "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json"})
        return h["Docker-Content-Digest"], json.loads(body)


class TokenServer:
    """A token server as Docker Hub's auth service works (the distribution token spec):
    GET /token?service=&scope=... answers a JWT signed with a key whose self-signed
    certificate the registry trusts. Anyone may pull repositories under public/; the user
    (Basic auth) may pull and push everything; wrong credentials get 401."""

    SERVICE, ISSUER = "layerbox-test-registry", "layerbox-test-issuer"

    def __init__(self, base):
        openssl = tool("openssl")
        self.key, self.cert = os.path.join(base, "key.pem"), os.path.join(base, "cert.pem")
        subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", self.key,
                        "-out", self.cert, "-days", "2", "-subj", "/CN=layerbox-test-issuer"],
                       check=True, capture_output=True)
        der = subprocess.run([openssl, "x509", "-in", self.cert, "-outform", "DER"], check=True,
                             capture_output=True).stdout
        self.x5c = base64.b64encode(der).decode()
        self.requests: list = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.answer(self)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.realm = f"http://127.0.0.1:{self.httpd.server_address[1]}/token"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def answer(self, h):
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(h.path).query)
        user = None
        auth = h.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
            if (user, pw) != (USER, PASSWORD):
                h.send_response(401)
                h.end_headers()
                return
        self.requests.append((user, q.get("scope", [])))
        access = []
        for scope in q.get("scope", []):
            kind, name, actions = scope.split(":")
            allowed = [a for a in actions.split(",") if user or (a == "pull" and name.startswith("public/"))]
            access.append({"type": kind, "name": name, "actions": allowed})
        now = int(time.time())
        claims = {"iss": self.ISSUER, "sub": user or "", "aud": q.get("service", [""])[0], "exp": now + 300,
                  "nbf": now - 10, "iat": now, "jti": os.urandom(8).hex(), "access": access}
        head = {"typ": "JWT", "alg": "RS256", "x5c": [self.x5c]}
        signing = f"{_b64url(json.dumps(head).encode())}.{_b64url(json.dumps(claims).encode())}"
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", self.key], input=signing.encode(),
                             capture_output=True, check=True).stdout
        body = json.dumps({"token": f"{signing}.{_b64url(sig)}", "expires_in": 300}).encode()
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


def _b64url(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


@pytest.fixture(scope="session")
def registry(tmp_path_factory):
    reg = Registry(str(tmp_path_factory.mktemp("registry")))
    yield reg
    reg.stop()
    shutil.rmtree(reg.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def auth_registry(tmp_path_factory):
    base = str(tmp_path_factory.mktemp("auth-registry"))
    htpasswd = os.path.join(base, "htpasswd")
    r = subprocess.run([tool("htpasswd"), "-Bbn", USER, PASSWORD], capture_output=True, text=True, check=True)
    with open(htpasswd, "w") as f:
        f.write(r.stdout)
    reg = Registry(base, htpasswd)
    yield reg
    reg.stop()
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(autouse=True)
def private_credentials(tmp_path, monkeypatch):
    """Every test logs in (if at all) into a credentials file of its own, never ~/.config."""
    monkeypatch.setenv("LAYERBOX_CONFIG", str(tmp_path / "config"))
    monkeypatch.delenv("LAYERBOX_REGISTRY_MIRROR", raising=False)
    return tmp_path / "config" / "auth.json"


@pytest.fixture
def tags(cli, busybox_image):
    """Tags made in the main store for a test, removed after it."""
    made: list[str] = []

    def tag(target, source="busybox"):
        cli("tag", source, target, check=True)
        made.append(target)
        return target

    yield tag
    for t in made:
        cli("rmi", t)


def inspect(c: Cli, ref) -> dict:
    r = c("image", "inspect", ref)
    assert r.returncode == 0, r.err
    return json.loads(r.out)[0]


def layer_lines(out: str) -> dict:
    """{layer id: [statuses]} from docker-style progress output."""
    got: dict = {}
    for line in out.splitlines():
        head, sep, status = line.partition(": ")
        if sep and len(head) == 12 and all(c in "0123456789abcdef" for c in head):
            got.setdefault(head, []).append(status)
    return got


# -- push and pull ---------------------------------------------------------------------------

def test_push_pull_into_another_store_and_run(cli, store2, registry, tags, busybox_image):
    ref = tags(f"{registry.host}/lb/busybox:1")
    r = cli("push", ref)
    assert r.returncode == 0, r.err
    lines = r.out.splitlines()
    assert lines[0] == f"The push refers to repository [{registry.host}/lb/busybox]"
    diff_id = inspect(cli, ref)["RootFS"]["Layers"][0]
    assert layer_lines(r.out)[diff_id[7:19]][-1] in ("Pushed", "Layer already exists", "Mounted from busybox")
    digest, manifest = registry.manifest("lb/busybox", "1")
    assert lines[-1] == f"1: digest: {digest} size: {len(json.dumps(manifest).encode())}" or \
        lines[-1].startswith(f"1: digest: {digest} size: ")
    assert manifest["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert manifest["config"]["digest"] == busybox_image
    assert manifest["layers"][0]["mediaType"] == "application/vnd.docker.image.rootfs.diff.tar.gzip"
    assert f"{registry.host}/lb/busybox@{digest}" in inspect(cli, ref)["RepoDigests"]

    r = store2("pull", ref)
    assert r.returncode == 0, r.err
    blob = manifest["layers"][0]["digest"]
    assert r.out.splitlines() == [
        "1: Pulling from lb/busybox",
        f"{blob[7:19]}: Pulling fs layer",
        f"{blob[7:19]}: Download complete",
        f"{blob[7:19]}: Pull complete",
        f"Digest: {digest}",
        f"Status: Downloaded newer image for {ref}",
        ref,
    ]
    doc = inspect(store2, ref)
    assert doc["Id"] == busybox_image
    assert doc["RepoTags"] == [ref] and doc["RepoDigests"] == [f"{registry.host}/lb/busybox@{digest}"]
    assert store2("run", "--rm", ref, "echo", "pulled").out == "pulled\n"
    # again: nothing to download
    r = store2("pull", ref)
    assert r.out.splitlines()[1:] == [f"{blob[7:19]}: Already exists", f"Digest: {digest}",
                                      f"Status: Image is up to date for {ref}", ref]
    assert store2("pull", "-q", ref).out == ref + "\n"


def test_second_push_skips_and_other_repositories_mount(cli, registry, tags):
    ref = tags(f"{registry.host}/lb/twice")
    assert cli("push", ref).returncode == 0
    r = cli("push", ref)
    assert r.returncode == 0, r.err
    assert r.out.splitlines()[0] == "Using default tag: latest"
    assert list(layer_lines(r.out).values()) == [["Preparing", "Layer already exists"]]
    # the same layer into another repository of the registry: mounted, not uploaded
    other = tags(f"{registry.host}/lb/mounted:2")
    r = cli("push", other)
    assert r.returncode == 0, r.err
    assert list(layer_lines(r.out).values())[0][-1].startswith("Mounted from lb/")
    assert cli("push", "-q", other).out == other + "\n"


def test_pull_by_digest_and_run_by_digest(cli, store2, registry, tags, busybox_image):
    ref = tags(f"{registry.host}/lb/bydigest:x")
    assert cli("push", ref).returncode == 0
    digest, _m = registry.manifest("lb/bydigest", "x")
    by_digest = f"{registry.host}/lb/bydigest@{digest}"
    r = store2("pull", by_digest)
    assert r.returncode == 0, r.err
    assert r.out.splitlines()[0] == f"{digest}: Pulling from lb/bydigest"
    assert r.out.splitlines()[-2:] == [f"Status: Downloaded newer image for {by_digest}", by_digest]
    doc = inspect(store2, by_digest)
    assert doc["Id"] == busybox_image and doc["RepoTags"] == [] and doc["RepoDigests"] == [by_digest]
    assert store2("run", "--rm", by_digest, "true").returncode == 0
    r = store2("pull", by_digest)
    assert "Status: Image is up to date for " + by_digest in r.out
    # a digest the registry does not have
    r = store2("pull", f"{registry.host}/lb/bydigest@sha256:{'0' * 64}")
    assert r.returncode == 1 and "manifest unknown" in r.err


def test_all_tags_both_ways(cli, store2, registry, tags):
    repo = f"{registry.host}/lb/alltags"
    tags(f"{repo}:a")
    tags(f"{repo}:b")
    r = cli("push", "-a", repo)
    assert r.returncode == 0, r.err
    assert [ln.split(":")[0] for ln in r.out.splitlines() if ": digest: " in ln] == ["a", "b"]
    r = store2("pull", "--all-tags", repo)
    assert r.returncode == 0, r.err
    assert r.out.splitlines()[-2:] == [f"Status: Downloaded newer image for {repo}", repo]
    assert inspect(store2, f"{repo}:a")["RepoTags"] == [f"{repo}:a", f"{repo}:b"]
    assert "tag can't be used with --all-tags/-a" in store2("pull", "-a", f"{repo}:a").err


def test_multi_platform_index_picks_linux_amd64(cli, store2, registry, tags, busybox_image, tmp_path):
    """An index with an arm64 entry first and the amd64 image skopeo pushed from our save."""
    tool("skopeo")
    archive = tmp_path / "bb.tar"
    assert cli("save", "-o", archive, "busybox").returncode == 0
    r = subprocess.run(["skopeo", "--insecure-policy", "copy", "--dest-tls-verify=false",
                        f"docker-archive:{archive}", f"docker://{registry.host}/lb/multi:amd64"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    amd64_digest, amd64 = registry.manifest("lb/multi", "amd64")
    # a fake arm64 image: busybox's layer under a config that says arm64
    arm_config = json.dumps({"architecture": "arm64", "os": "linux", "config": {"Cmd": ["sh"]},
                             "rootfs": {"type": "layers", "diff_ids": inspect(cli, "busybox")["RootFS"]["Layers"]}}
                            ).encode()
    cdesc = registry.put_blob("lb/multi", arm_config)
    arm = registry.put_manifest("lb/multi", "arm64", {
        "schemaVersion": 2, "mediaType": amd64["mediaType"],
        "config": dict(cdesc, mediaType=amd64["config"]["mediaType"]), "layers": amd64["layers"]},
        amd64["mediaType"])
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
        dict(arm, platform={"architecture": "arm64", "os": "linux"}),
        {"mediaType": amd64["mediaType"], "digest": amd64_digest,
         "size": len(registry.call("GET", f"/v2/lb/multi/manifests/{amd64_digest}",
                                   headers={"Accept": amd64["mediaType"]})[2]),
         "platform": {"architecture": "amd64", "os": "linux"}},
    ]}
    idesc = registry.put_manifest("lb/multi", "index", index, index["mediaType"])
    ref = f"{registry.host}/lb/multi:index"
    r = store2("pull", ref)
    assert r.returncode == 0, r.err
    assert f"Digest: {idesc['digest']}" in r.out  # the index's digest, as docker shows
    doc = inspect(store2, ref)
    assert doc["Id"] == busybox_image and doc["Architecture"] == "amd64"
    assert doc["RepoDigests"] == [f"{registry.host}/lb/multi@{idesc['digest']}"]
    # --platform picks the other entry
    r = store2("pull", "--platform", "linux/arm64", f"{registry.host}/lb/multi:index")
    assert r.returncode == 0, r.err
    assert inspect(store2, ref)["Architecture"] == "arm64"
    r = store2("pull", "--platform", "linux/s390x", ref)
    assert r.returncode == 1
    assert r.err == "Error: no matching manifest for linux/s390x in the manifest list entries\n"


def _store_state(root: str) -> dict:
    out = {}
    for sub in ("images", "layers", "blobs/sha256", "tmp"):
        p = os.path.join(root, sub)
        out[sub] = sorted(os.listdir(p)) if os.path.isdir(p) else []
    p = os.path.join(root, "refs.json")
    out["refs"] = open(p).read() if os.path.exists(p) else ""
    return out


def test_a_blob_that_does_not_match_its_digest_is_refused(cli, store2, registry, tags, busybox_image):
    cid = cli("run", "-d", "busybox", "sh", "-c", f"echo {os.urandom(8).hex()} > /unique").out.strip()
    cli("wait", cid)
    image = cli("commit", cid, f"{registry.host}/lb/tampered:1").out.strip()
    cli("rm", cid)
    try:
        assert cli("push", f"{registry.host}/lb/tampered:1").returncode == 0
        _d, manifest = registry.manifest("lb/tampered", "1")
        top = manifest["layers"][-1]["digest"]
        path = registry.blob_file(top)
        with open(path, "r+b") as f:  # one byte changed in the middle: same size, other bytes
            f.seek(os.path.getsize(path) // 2)
            b = f.read(1)
            f.seek(-1, os.SEEK_CUR)
            f.write(bytes([b[0] ^ 0xFF]))
        before = _store_state(store2.root)
        r = store2("pull", f"{registry.host}/lb/tampered:1")
        assert r.returncode == 1
        assert r.err == f"Error: filesystem layer verification failed for digest {top}\n"
        assert _store_state(store2.root) == before  # not even the busybox layer that checked out
        assert store2("image", "inspect", f"{registry.host}/lb/tampered:1").returncode != 0
    finally:
        cli("rmi", image)


def test_pull_errors_read_like_docker(store2, registry):
    r = store2("pull", f"{registry.host}/lb/nothing-here:nope")
    assert r.returncode == 1
    assert r.err.startswith(f"Error: manifest for {registry.host}/lb/nothing-here:nope not found: ")
    assert "unknown" in r.err
    port = free_port()
    r = store2("pull", f"127.0.0.1:{port}/x")
    assert r.returncode == 1
    assert r.err == (f'Error: Get "http://127.0.0.1:{port}/v2/x/manifests/latest": '
                     f"dial tcp 127.0.0.1:{port}: connect: connection refused\n")
    r = store2("push", f"{registry.host}/lb/never-tagged")
    assert r.returncode == 1
    assert r.err.endswith(f"An image does not exist locally with the tag: {registry.host}/lb/never-tagged\n")


# -- auth ------------------------------------------------------------------------------------

def test_login_push_pull_logout(cli, store2, auth_registry, tags, busybox_image, private_credentials):
    ref = tags(f"{auth_registry.host}/private/bb:1")
    r = cli("push", ref)
    assert r.returncode == 1
    assert r.err.endswith("Error: unauthorized: authentication required\n")
    r = cli("login", "-u", USER, "--password-stdin", auth_registry.host, input=b"wrong\n")
    assert r.returncode == 1
    assert "401 Unauthorized" in r.err
    assert not private_credentials.exists()
    r = cli("login", "-u", USER, "--password-stdin", auth_registry.host, input=PASSWORD.encode() + b"\n")
    assert r.returncode == 0, r.err
    assert r.out == "Login Succeeded\n"
    assert stat.S_IMODE(os.stat(private_credentials).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(private_credentials.parent).st_mode) == 0o700
    assert list(json.loads(private_credentials.read_text())["auths"]) == [auth_registry.host]
    r = cli("push", ref)
    assert r.returncode == 0, r.err
    r = store2("pull", ref)
    assert r.returncode == 0, r.err
    assert inspect(store2, ref)["Id"] == busybox_image
    r = cli("logout", f"http://{auth_registry.host}/")
    assert r.out == f"Removing login credentials for {auth_registry.host}\n"
    r = store2("pull", ref)
    assert r.returncode == 1 and r.err == "Error: unauthorized: authentication required\n"
    assert cli("logout", auth_registry.host).out == f"Not logged in to {auth_registry.host}\n"
    r = cli("login", "-u", USER, "-p", PASSWORD, auth_registry.host)
    assert r.returncode == 0 and "WARNING! Using --password via the CLI is insecure" in r.err
    r = cli("login", auth_registry.host, input=b"")
    assert r.returncode == 1 and "Cannot perform an interactive login from a non TTY device" in r.err


@pytest.fixture(scope="session")
def token_registry(tmp_path_factory):
    base = str(tmp_path_factory.mktemp("token-registry"))
    tokens = TokenServer(base)
    reg = Registry(base, token=tokens)
    reg.tokens = tokens
    yield reg
    reg.stop()
    tokens.stop()
    shutil.rmtree(base, ignore_errors=True)


def test_bearer_tokens_anonymous_and_logged_in(cli, store2, token_registry, tags, busybox_image):
    host = token_registry.host
    public = tags(f"{host}/public/bb:1")
    r = cli("push", public)  # anonymous: a token, but one without push
    assert r.returncode == 1
    assert r.err.startswith("Error: unauthorized: ")
    r = cli("login", "-u", USER, "--password-stdin", host, input=b"nope")
    assert r.returncode == 1 and "incorrect username or password" in r.err
    assert cli("login", "-u", USER, "--password-stdin", host, input=PASSWORD.encode()).returncode == 0
    r = cli("push", public)
    assert r.returncode == 0, r.err
    assert (USER, ["repository:public/bb:pull,push"]) in token_registry.tokens.requests
    # a mount from another repository asks for pull on the source in the same token
    other = tags(f"{host}/team/bb:1")
    r = cli("push", other)
    assert r.returncode == 0, r.err
    assert "Mounted from public/bb" in r.out
    assert (USER, ["repository:team/bb:pull,push", "repository:public/bb:pull"]) in token_registry.tokens.requests
    cli("logout", host)
    # anonymous pulls: public/ works with an anonymous token, team/ does not
    r = store2("pull", public)
    assert r.returncode == 0, r.err
    assert (None, ["repository:public/bb:pull"]) in token_registry.tokens.requests
    assert store2("run", "--rm", public, "true").returncode == 0
    r = store2("pull", other)
    assert r.returncode == 1 and r.err.startswith("Error: unauthorized: ")


def test_tls_registry_on_loopback_without_verification(cli, store2, tags, busybox_image, tmp_path_factory):
    """Loopback registries are insecure as docker has them: https first (the certificate not
    verified), plain http only when the server does not speak TLS. A TLS-only registry works,
    so every request went over TLS; a 3 MB layer goes out through the TLS send loop."""
    base = str(tmp_path_factory.mktemp("tls-registry"))
    key, cert = os.path.join(base, "key.pem"), os.path.join(base, "cert.pem")
    subprocess.run([tool("openssl"), "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", "/CN=layerbox-test"], check=True, capture_output=True)
    reg = Registry(base, tls=(cert, key))
    try:
        cid = cli("run", "-d", "busybox", "sh", "-c", "head -c 3000000 /dev/urandom > /random").out.strip()
        cli("wait", cid)
        ref = f"{reg.host}/lb/tls:1"
        image = cli("commit", cid, ref).out.strip()
        cli("rm", cid)
        try:
            r = cli("push", ref)
            assert r.returncode == 0, r.err
            assert r.out.count(": Pushed") == 2
            r = store2("pull", ref)
            assert r.returncode == 0, r.err
            assert store2("run", "--rm", ref, "wc", "-c", "/random").out.split()[0] == "3000000"
        finally:
            cli("rmi", image)
    finally:
        reg.stop()
        shutil.rmtree(base, ignore_errors=True)


# -- run pulls what it lacks -----------------------------------------------------------------

def test_run_pulls_a_missing_image_from_its_registry(cli, store2, registry, tags):
    ref = tags(f"{registry.host}/lb/runpull:1")
    assert cli("push", ref).returncode == 0
    r = store2("run", "--rm", ref, "echo", "ran")
    assert r.returncode == 0, r.err
    assert r.out == "ran\n"
    err = r.err.splitlines()
    assert err[0] == f"Unable to find image '{ref}' locally"
    assert err[1] == "1: Pulling from lb/runpull" and err[-1] == f"Status: Downloaded newer image for {ref}"


def test_run_pull_always_and_never_against_the_registry(cli, store2, registry, tags):
    """--pull always pulls before every run/create (docker's CLI: the pull's lines, then
    "Image is up to date" or "Downloaded newer image"), so a tag moved in the registry runs
    its new image; --pull missing keeps the local one; --pull never never asks."""
    ref = tags(f"{registry.host}/lb/always:1")
    assert cli("push", ref).returncode == 0
    assert store2("pull", ref).returncode == 0
    r = store2("run", "--rm", "--pull", "always", ref, "echo", "ran")
    assert r.returncode == 0 and r.out == "ran\n", r.err
    err = r.err.splitlines()
    assert err[0] == "1: Pulling from lb/always" and err[-1] == f"Status: Image is up to date for {ref}"
    assert "Unable to find image" not in r.err
    # the tag moves to a new image in the registry
    assert cli("run", "--name", "always-v2", "busybox", "sh", "-c", "echo v2 > /version").returncode == 0
    try:
        v2 = cli("commit", "always-v2", ref).out.strip()
    finally:
        cli("rm", "-f", "always-v2")
    try:
        assert cli("push", ref).returncode == 0
        r = store2("run", "--rm", "--pull", "missing", ref, "cat", "/version")
        assert r.returncode == 1 and "Pulling" not in r.err  # the local, older image: no file
        r = store2("run", "--rm", "--pull", "always", ref, "cat", "/version")
        assert r.returncode == 0 and r.out == "v2\n", r.err
        assert r.err.splitlines()[-1] == f"Status: Downloaded newer image for {ref}"
        assert inspect(store2, ref)["Id"] == v2
        r = store2("create", "--pull", "always", ref, "true")
        assert r.returncode == 0, r.err
        assert r.err.splitlines()[-1] == f"Status: Image is up to date for {ref}"
        store2("rm", r.out.strip())
        # a registry that does not answer: the pull's error, no container made
        before = store2("ps", "-a", "-q").out
        r = store2("run", "--rm", "--pull", "always", f"127.0.0.1:{free_port()}/lb/none:1", "true")
        assert r.returncode == 125 and "connection refused" in r.err
        assert r.err.startswith("Error: ") and "Pulling from" not in r.err  # as docker: the error alone
        r = store2("run", "--rm", "--pull", "never", f"{registry.host}/lb/never:1", "true")
        assert r.returncode == 125
        assert r.err == f"Error: No such image: {registry.host}/lb/never:1\n"
        assert store2("ps", "-a", "-q").out == before
    finally:
        cli("rmi", "-f", v2)


def test_run_of_a_docker_hub_name_pulls_only_through_a_mirror(cli, store2, registry, tags):
    tags(f"{registry.host}/library/mirrored:1")
    assert cli("push", f"{registry.host}/library/mirrored:1").returncode == 0
    t0 = time.time()
    r = store2("run", "--rm", "mirrored:1", "true")
    assert r.returncode == 125 and time.time() - t0 < 10  # no network try
    assert r.err.splitlines() == ["Unable to find image 'mirrored:1' locally", "Error: No such image: mirrored:1"]
    r = store2("run", "--rm", "mirrored:1", "echo", "via mirror", env={"LAYERBOX_REGISTRY_MIRROR": registry.host})
    assert r.returncode == 0, r.err
    assert r.out == "via mirror\n" and "1: Pulling from library/mirrored" in r.err
    assert inspect(store2, "mirrored:1")["RepoDigests"][0].startswith("mirrored@sha256:")


# -- the Python API --------------------------------------------------------------------------

def test_sdk_pull_and_push(cli, registry, tags, busybox_image, tmp_path):
    import layerbox

    ref = tags(f"{registry.host}/lb/sdk:1")
    client = layerbox.Client(root=cli.root)
    out = client.images.push(f"{registry.host}/lb/sdk", tag="1")
    msgs = [json.loads(x) for x in out.split("\r\n") if x]
    assert msgs[0] == {"status": f"The push refers to repository [{registry.host}/lb/sdk]"}
    assert msgs[-1]["aux"]["Tag"] == "1" and msgs[-1]["aux"]["Digest"].startswith("sha256:")
    events = list(client.images.push(f"{registry.host}/lb/sdk", tag="nope", stream=True, decode=True))
    assert "An image does not exist locally" in events[-1]["error"]
    other = layerbox.Client(root=str(tmp_path / "sdk-store"))
    try:
        img = other.images.pull(f"{registry.host}/lb/sdk", tag="1")
        assert img.id == busybox_image and img.tags == [ref]
        imgs = other.images.pull(f"{registry.host}/lb/sdk", all_tags=True)
        assert [i.id for i in imgs] == [busybox_image]
        with pytest.raises(layerbox.errors.ImageNotFound):
            other.images.pull(f"{registry.host}/lb/sdk", tag="missing")
    finally:
        other.images.remove(img.id, force=True)


def test_concurrent_pulls_into_one_store(cli, store2, registry, tags, busybox_image):
    ref = tags(f"{registry.host}/lb/concurrent:1")
    assert cli("push", ref).returncode == 0
    procs = [store2.popen("pull", ref, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(4)]
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
    assert inspect(store2, ref)["Id"] == busybox_image
    assert os.listdir(os.path.join(store2.root, "tmp")) == []
    assert store2("run", "--rm", ref, "true").returncode == 0


class SlowProxy:
    """An HTTP proxy in front of a registry that records every blob GET (path, Range header)
    and sends blob bodies slowly: 64 KiB every `pause` seconds, and not at all while `flowing`
    is clear. Manifests and configs pass at full speed."""

    def __init__(self, upstream: str, pause: float = 0.005):
        self.upstream = upstream
        self.pause = pause
        self.gets: list = []
        self.sent = 0
        self.flowing = threading.Event()
        self.flowing.set()
        self._lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                outer._forward(self, "GET")

            def do_HEAD(self):
                outer._forward(self, "HEAD")

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def blob_gets(self, digest: str) -> list:
        """The Range header of each GET of blob `digest` ("" for the whole)."""
        with self._lock:
            return [r for path, r in self.gets if path.endswith("/blobs/" + digest)]

    def _forward(self, h, method: str):
        conn = http.client.HTTPConnection(self.upstream, timeout=30)
        headers = {k: v for k, v in h.headers.items() if k.lower() in ("accept", "range")}
        conn.request(method, h.path, headers=headers)
        resp = conn.getresponse()
        blob = "/blobs/sha256:" in h.path
        if blob and method == "GET":
            with self._lock:
                self.gets.append((h.path, h.headers.get("Range", "")))
        h.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("connection", "keep-alive", "transfer-encoding"):
                h.send_header(k, v)
        if resp.getheader("content-length") is None:
            h.send_header("Connection", "close")
            h.close_connection = True
        h.end_headers()
        try:
            while method == "GET":
                chunk = resp.read(65536)
                if not chunk:
                    break
                if blob:
                    self.flowing.wait()
                    time.sleep(self.pause)
                h.wfile.write(chunk)
                if blob:
                    with self._lock:
                        self.sent += len(chunk)
        except OSError:
            h.close_connection = True  # the client went away (killed)
        finally:
            conn.close()

    def close(self):
        self.flowing.set()
        self.server.shutdown()
        self.server.server_close()


def _random_image(cli, ref: str, tmp_path, mib: int) -> None:
    """An image of one layer: `mib` MiB of random bytes (gzip cannot shrink them)."""
    import tarfile

    src = tmp_path / "random"
    src.mkdir()
    (src / "data").write_bytes(os.urandom(mib << 20))
    with tarfile.open(tmp_path / "random.tar", "w") as t:
        t.add(src / "data", arcname="data")
    cli("import", tmp_path / "random.tar", ref, check=True)


def _layer_digests(registry, repo: str, tag: str) -> list:
    req = urllib.request.Request(f"http://{registry.host}/v2/{repo}/manifests/{tag}",
                                 headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return [layer["digest"] for layer in json.load(r)["layers"]]


def _no_problems(store) -> None:
    check = store("system", "check")
    assert check.returncode == 0 and check.out.strip() == "no problems found", check.out + check.err


def _pulled_and_clean(store2, pref: str, cli, ref: str) -> None:
    """store2 has the image `pref` as `cli` has `ref`, nothing is left in its staging, and
    system check finds nothing."""
    assert inspect(store2, pref)["RootFS"]["Layers"] == inspect(cli, ref)["RootFS"]["Layers"]
    assert os.listdir(os.path.join(store2.root, "tmp")) == []
    _no_problems(store2)


@contextlib.contextmanager
def _image_behind_proxy(cli, registry, tmp_path, name: str, mib: int, pause: float = 0.005):
    """An image of `mib` MiB of random bytes pushed as <registry>/lb/<name>:1 and a SlowProxy
    in front of the registry. Yields (proxy, ref, the ref through the proxy, layer digest)."""
    ref = f"{registry.host}/lb/{name}:1"
    _random_image(cli, ref, tmp_path, mib)
    proxy = SlowProxy(registry.host, pause)
    try:
        assert cli("push", ref).returncode == 0
        (digest,) = _layer_digests(registry, f"lb/{name}", "1")
        yield proxy, ref, f"{proxy.host}/lb/{name}:1", digest
    finally:
        proxy.close()
        cli("rmi", "-f", ref)


def test_parallel_pulls_of_one_image_fetch_each_layer_once(cli, store2, registry, tmp_path):
    # 8 MiB at 64 KiB per 10 ms: about 1.3 s for the layer, so the two pulls overlap
    with _image_behind_proxy(cli, registry, tmp_path, "once", 8, pause=0.01) as (proxy, ref, pref, digest):
        procs = [store2.popen("pull", pref, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
        for p in procs:
            _out, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
        assert proxy.blob_gets(digest) == [""]  # one fetch; the other pull waited for it
        _pulled_and_clean(store2, pref, cli, ref)


def test_a_pull_killed_midway_is_resumed_where_it_stopped(cli, store2, registry, tmp_path):
    with _image_behind_proxy(cli, registry, tmp_path, "resume", 16) as (proxy, ref, pref, digest):
        p = store2.popen("pull", pref, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.time() + 60
            while proxy.sent < (8 << 20) and time.time() < deadline and p.poll() is None:
                time.sleep(0.02)
            proxy.flowing.clear()  # the body stops halfway; the pull waits for more
            assert proxy.sent >= (8 << 20) and p.poll() is None
            time.sleep(0.3)
            download = os.path.join(store2.root, "tmp", "download-" + digest.split(":")[1])
            assert os.path.isdir(download)
            _no_problems(store2)  # a running pull's download is its work, not something to repair
        finally:
            p.kill()
            p.wait()
        have = os.path.getsize(os.path.join(download, "data"))
        assert have > 0
        assert "partial download" in store2("system", "check").out  # nobody holds it now
        proxy.flowing.set()
        r = store2("pull", pref)
        assert r.returncode == 0, r.err
        assert proxy.blob_gets(digest) == ["", f"bytes={have}-"]  # the second took up the rest
        _pulled_and_clean(store2, pref, cli, ref)


def test_a_kept_download_that_is_not_the_blobs_start_is_fetched_again(cli, store2, registry, tmp_path):
    with _image_behind_proxy(cli, registry, tmp_path, "badkeep", 2, pause=0) as (proxy, ref, pref, digest):
        download = os.path.join(store2.root, "tmp", "download-" + digest.split(":")[1])
        os.makedirs(download, 0o700)
        with open(os.path.join(download, "data"), "wb") as f:
            f.write(bytes(1 << 20))  # what a crash can leave: the right length, not the bytes
        r = store2("pull", pref)
        assert r.returncode == 0, r.err
        gets = proxy.blob_gets(digest)
        assert gets[0] == f"bytes={1 << 20}-" and gets[-1] == ""
        _pulled_and_clean(store2, pref, cli, ref)


def test_system_prune_removes_a_partial_download_nobody_holds(store2):
    assert store2("images").returncode == 0
    download = os.path.join(store2.root, "tmp", "download-" + "ab" * 32)
    os.makedirs(download, 0o700)
    with open(os.path.join(download, "data"), "wb") as f:
        f.write(b"partial")
    assert "partial download" in store2("system", "check").out
    assert store2("system", "prune", "-f").returncode == 0
    assert os.listdir(os.path.join(store2.root, "tmp")) == []


# -- skopeo ----------------------------------------------------------------------------------

def test_skopeo_reads_what_we_push_and_we_pull_what_it_pushes(cli, store2, registry, tags, busybox_image, tmp_path):
    tool("skopeo")
    ref = tags(f"{registry.host}/lb/toskopeo:1")
    assert cli("push", ref).returncode == 0

    def skopeo(*args):
        r = subprocess.run(["skopeo", "--insecure-policy", *map(str, args)], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        return r.stdout

    layout = tmp_path / "layout"
    skopeo("copy", "--src-tls-verify=false", f"docker://{ref}", f"oci:{layout}:x")
    cfg = json.loads(skopeo("inspect", "--config", f"oci:{layout}:x"))
    assert cfg["rootfs"]["diff_ids"] == inspect(cli, ref)["RootFS"]["Layers"]
    # skopeo pushes an OCI image from our uncompressed oci-dir save: busybox's layer as the
    # gzip blob it finds in the registry already, a new top layer compressed with zstd
    cid = cli("run", "-d", "busybox", "sh", "-c", f"echo {os.urandom(8).hex()} > /from-skopeo").out.strip()
    cli("wait", cid)
    image = cli("commit", cid, "lb-skopeo-src:1").out.strip()
    cli("rm", cid)
    saved = tmp_path / "saved"
    try:
        assert cli("save", "--format", "oci-dir", "-o", saved, "lb-skopeo-src:1").returncode == 0
    finally:
        cli("rmi", image)
    theirs = f"{registry.host}/skopeo/pushed:z"
    skopeo("copy", "--dest-tls-verify=false", "--dest-compress-format", "zstd", f"oci:{saved}", f"docker://{theirs}")
    _d, m = registry.manifest("skopeo/pushed", "z")
    assert m["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert m["layers"][-1]["mediaType"] == "application/vnd.oci.image.layer.v1.tar+zstd"
    r = store2("pull", theirs)
    assert r.returncode == 0, r.err
    assert store2("run", "--rm", theirs, "cat", "/from-skopeo").returncode == 0
    assert inspect(store2, theirs)["Id"] == image
    # and we push that pulled image on: zstd is not what we send, so it is compressed again
    again = f"{registry.host}/lb/from-skopeo:1"
    store2("tag", theirs, again)
    r = store2("push", again)
    assert r.returncode == 0, r.err
    _d, m = registry.manifest("lb/from-skopeo", "1")
    assert m["layers"][0]["mediaType"] == "application/vnd.docker.image.rootfs.diff.tar.gzip"


def test_docker_pulls_what_we_push(cli, busybox_image, tmp_path):
    """Where dockerd runs (it is not part of the install), `docker pull` takes our push: it
    checks every blob against the manifest's digests, and the image runs there. dockerd lives
    in the host's network namespace, not the tests' (conftest), so the registry and our push
    run there too (entered through dockerd's own pid), on its loopback."""
    if shutil.which("docker") is None or subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        pytest.skip("no running dockerd")
    try:
        with open("/var/run/docker.pid") as f:
            host_net = ["nsenter", f"--net=/proc/{int(f.read())}/ns/net"]  # dockerd's namespace
    except (OSError, ValueError):
        pytest.skip("dockerd's pid file is missing")
    port = int(subprocess.run([*host_net, sys.executable, "-c", "import socket; s = socket.socket(); "
                               "s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"],
                              capture_output=True, text=True, check=True).stdout)
    (tmp_path / "config.yml").write_text(
        f"version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {tmp_path}/data\nhttp:\n  addr: 127.0.0.1:{port}\n")
    reg = subprocess.Popen([*host_net, tool("docker-registry"), "serve", str(tmp_path / "config.yml")],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ref = f"127.0.0.1:{port}/lb/todocker:1"
    cid = cli("run", "-d", "busybox", "sh", "-c", "echo from-layerbox > /mark").out.strip()
    cli("wait", cid)
    image = cli("commit", cid, ref).out.strip()
    cli("rm", cid)
    try:
        for _ in range(100):  # until the registry answers
            r = subprocess.run([*host_net, *cli.cmd, "push", ref], capture_output=True, text=True, env=cli.env())
            if r.returncode == 0 or "connection refused" not in r.stderr.lower():
                break
            time.sleep(0.1)
        assert r.returncode == 0, r.stderr
        r = subprocess.run(["docker", "pull", ref], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        got = json.loads(subprocess.run(["docker", "image", "inspect", ref], capture_output=True, text=True,
                                        check=True).stdout)[0]
        assert got["Id"] == image
        assert got["RootFS"]["Layers"] == inspect(cli, ref)["RootFS"]["Layers"]
        r = subprocess.run(["docker", "run", "--rm", "--network", "none", ref, "cat", "/mark"],
                           capture_output=True, text=True)
        assert r.returncode == 0 and r.stdout == "from-layerbox\n", r.stderr
    finally:
        subprocess.run(["docker", "rmi", "-f", ref], capture_output=True)
        cli("rmi", "-f", ref)
        reg.terminate()
        reg.wait(10)


# -- progress ----------------------------------------------------------------------------------

def _on_a_terminal(cli_obj, *args, cols=160):
    """Runs the CLI with its stdout on a pty of `cols` columns; returns (exit code, output)."""
    import fcntl
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, cols, 0, 0))
    p = cli_obj.popen(*args, stdin=subprocess.DEVNULL, stdout=slave, stderr=subprocess.PIPE)
    os.close(slave)
    chunks = []
    while True:
        try:
            b = os.read(master, 65536)
        except OSError:  # EIO: the last writer is gone
            break
        if not b:
            break
        chunks.append(b)
    os.close(master)
    p.wait(timeout=120)
    p.stderr.close()
    return p.returncode, b"".join(chunks).decode(errors="replace")


def test_pull_and_push_draw_progress_on_a_terminal(cli, store2, registry, tags, busybox_image, tmp_path):
    import io
    import tarfile

    # a layer no registry has seen, big enough to take a few progress steps
    data = os.urandom(6 << 20)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        info = tarfile.TarInfo("noise")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    ref = f"{registry.host}/lb/progress:1"
    cli("import", "-", ref, input=buf.getvalue(), check=True)
    code, out = _on_a_terminal(cli, "push", ref)
    assert code == 0, out
    # one line per layer, rewritten in place (cursor up, clear line) as the bytes go out
    assert "\x1b[2K\r" in out and "Pushing [" in out and re.search(r"\x1b\[\dA", out), out
    code, out = _on_a_terminal(store2, "pull", ref)
    assert code == 0, out
    assert re.search(r": Downloading \[=*>\s*\]\s+[\d.]+[kM]?B/[\d.]+[kM]?B", out), out
    assert "Extracting [" in out and "Pull complete" in out and out.rstrip().endswith(ref)
    # not a terminal: status lines only; -q: only the name
    r = store2("pull", ref)
    assert "Downloading" not in r.out and "\x1b" not in r.out
    assert store2("pull", "-q", ref).out == ref + "\n"
    cli("rmi", ref)
    store2("rmi", ref)


def test_sdk_pull_streams_dockers_progress_messages(cli, registry, tags, busybox_image, tmp_path):
    import layerbox

    ref = tags(f"{registry.host}/lb/sdkstream:1")
    assert cli("push", ref).returncode == 0
    other = layerbox.Client(root=str(tmp_path / "stream-store"))
    try:
        msgs = list(other.images.pull(f"{registry.host}/lb/sdkstream", tag="1", stream=True, decode=True))
        assert msgs[0] == {"status": "Pulling from lb/sdkstream", "id": "1"}
        downloading = [m for m in msgs if m.get("status") == "Downloading"]
        assert downloading, msgs
        last = downloading[-1]
        assert set(last["progressDetail"]) >= {"current", "total"} and last["progress"].startswith("[")
        assert len(last["id"]) == 12
        assert msgs[-1]["status"] == f"Status: Downloaded newer image for {ref}"
        raw = list(other.images.pull(f"{registry.host}/lb/sdkstream", tag="1", stream=True))
        assert json.loads(raw[-1].decode())["status"] == f"Status: Image is up to date for {ref}"
    finally:
        other.images.remove(ref, force=True)
