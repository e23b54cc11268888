"""HTTP to a registry (the OCI distribution spec / Docker Registry HTTP API v2).

The standard library's http.client, no third-party HTTP stack: the protocol needs four verbs
and a handful of headers, and the two paths that move layer bytes need the socket itself
(downloads are read into a reused buffer and written to the pipe C++ extracts from; uploads go
out with sendfile(2) on plain connections), which requests/urllib3 would hide.

- Where: a reference's domain names the registry; docker.io means registry-1.docker.io (or
  the mirror in LAYERBOX_REGISTRY_MIRROR, for pulls). https, its certificate verified against
  the system's CAs (SSL_CERT_FILE / SSL_CERT_DIR add others). Insecure registries, as docker
  has them: localhost, 127.0.0.0/8 and ::1 by default, and the hosts listed in
  LAYERBOX_INSECURE_REGISTRIES (comma-separated host or host:port): https without verifying
  the certificate, and plain http when the server does not speak TLS.
- Auth: a request answered 401 is retried once with what its WWW-Authenticate asks for:
  Basic with the credentials `layerbox login` stored, or Bearer with a token fetched from the
  challenge's realm for the scopes the operation needs (anonymously when no credentials are
  stored, as docker does). Tokens are kept per scope for the life of the Registry object.
- Redirects (blob downloads from object storage) are followed, without the Authorization
  header once the host changes.
- Errors read like docker's: the registry's error codes ("manifest unknown: manifest unknown",
  "unauthorized: authentication required") and Go's wording for connection failures
  ('Get "http://127.0.0.1:5000/v2/": dial tcp 127.0.0.1:5000: connect: connection refused').
"""

from __future__ import annotations

import base64
import http.client
import os
import socket
import ssl
import threading
import urllib.parse

from layerbox import _jsonfast
from layerbox.errors import APIError

DOCKER_IO = "docker.io"
DOCKER_HUB_HOST = "registry-1.docker.io"
_TIMEOUT = 60.0
_MAX_SMALL_BODY = 8 << 20  # manifests, configs, error bodies, tokens: never more than this
_MAX_REDIRECTS = 10


class RegistryError(APIError):
    """A registry refused or failed a request. `code` is the registry's error code
    (MANIFEST_UNKNOWN, UNAUTHORIZED, ...) when it gave one."""

    def __init__(self, message: str, status_code: int = 500, code: str = ""):
        super().__init__(message)
        self.status_code = status_code
        self.code = code


# -- where ---------------------------------------------------------------------------------

def _split_host_port(hostport: str) -> tuple[str, str]:
    if hostport.startswith("["):
        host, _, rest = hostport[1:].partition("]")
        return host, rest[1:] if rest.startswith(":") else ""
    if hostport.count(":") == 1:
        host, _, port = hostport.partition(":")
        return host, port
    return hostport, ""


def is_insecure(hostport: str) -> bool:
    """Plain http for this registry: localhost, loopback, or listed in
    LAYERBOX_INSECURE_REGISTRIES."""
    host, _port = _split_host_port(hostport)
    if host == "localhost" or host == "::1" or host.startswith("127."):
        return True
    listed = [h.strip() for h in os.environ.get("LAYERBOX_INSECURE_REGISTRIES", "").split(",")]
    return hostport in listed or host in listed


class Endpoint:
    """Where the registry of a reference's domain is reached."""

    __slots__ = ("domain", "host", "scheme", "insecure")

    def __init__(self, domain: str, host: str, scheme: str, insecure: bool = False):
        self.domain = domain  # as in references and in the credentials file: "localhost:5000"
        self.host = host      # what we connect to: "registry-1.docker.io"
        self.scheme = scheme
        self.insecure = insecure  # https unverified, falling back to http (see above)

    @property
    def base(self) -> str:
        return f"{self.scheme}://{self.host}"

    def __repr__(self) -> str:
        return f"Endpoint({self.domain!r}, {self.base!r})"


def endpoint(domain: str, *, pull: bool = False) -> Endpoint:
    """The endpoint of a registry domain. docker.io is Docker Hub, or for pulls the mirror
    named by LAYERBOX_REGISTRY_MIRROR (host[:port] or a URL), as docker's registry-mirrors."""
    if domain == DOCKER_IO:
        mirror = os.environ.get("LAYERBOX_REGISTRY_MIRROR", "").strip().rstrip("/") if pull else ""
        if mirror:
            if "://" in mirror:
                scheme, _, host = mirror.partition("://")
                return Endpoint(domain, host, scheme, scheme == "https" and is_insecure(host))
            return Endpoint(domain, mirror, "https", is_insecure(mirror))
        return Endpoint(domain, DOCKER_HUB_HOST, "https")
    return Endpoint(domain, domain, "https", is_insecure(domain))


# -- auth challenges -----------------------------------------------------------------------

def parse_challenge(header: str) -> tuple[str, dict]:
    """'Bearer realm="https://auth/token",service="reg",scope="repository:x:pull"' ->
    ("bearer", {realm, service, scope}). Quoted values may hold commas."""
    scheme, _, rest = header.strip().partition(" ")
    params: dict = {}
    i, n = 0, len(rest)
    while i < n:
        while i < n and rest[i] in " ,":
            i += 1
        j = rest.find("=", i)
        if j < 0:
            break
        key = rest[i:j].strip().lower()
        i = j + 1
        if i < n and rest[i] == '"':
            i += 1
            val = []
            while i < n and rest[i] != '"':
                if rest[i] == "\\" and i + 1 < n:
                    i += 1
                val.append(rest[i])
                i += 1
            i += 1
            params[key] = "".join(val)
        else:
            j = rest.find(",", i)
            j = n if j < 0 else j
            params[key] = rest[i:j].strip()
            i = j
    return scheme.lower(), params


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# -- errors --------------------------------------------------------------------------------

_DEFAULT_REASONS = {
    401: ("UNAUTHORIZED", "authentication required"),
    403: ("DENIED", "requested access to the resource is denied"),
}


def error_text(status: int, reason: str, body: bytes) -> tuple[str, str]:
    """(docker's text, the first error code) for an error response: the registry's error
    codes lower-cased ("manifest unknown: manifest unknown"), else a default for the status."""
    from layerbox import shape

    try:
        errs = shape.load(body, {"errors": [{"code": str}]}, "errors", ValueError).get("errors") or []
        parts, first = [], ""
        for e in errs:
            code = str(e.get("code") or "UNKNOWN")
            first = first or code
            msg = str(e.get("message") or "")
            parts.append(f"{code.lower().replace('_', ' ')}: {msg}" if msg else code.lower().replace("_", " "))
        if parts:
            return ", ".join(parts), first
    except (ValueError, AttributeError, TypeError):
        pass
    if status in _DEFAULT_REASONS:
        code, msg = _DEFAULT_REASONS[status]
        return f"{code.lower()}: {msg}", code
    return f"received unexpected HTTP status: {status} {reason}".rstrip(), ""


def _go_method(method: str) -> str:
    return method[:1] + method[1:].lower()


def connection_error(method: str, url: str, e: BaseException) -> RegistryError:
    """Go's wording for a failed request, naming the host (what docker prints)."""
    u = urllib.parse.urlsplit(url)
    hostport = u.netloc if u.port else f"{u.hostname}:{443 if u.scheme == 'https' else 80}"
    prefix = f'{_go_method(method)} "{url}"'
    if isinstance(e, socket.gaierror):
        return RegistryError(f"{prefix}: dial tcp: lookup {u.hostname}: no such host")
    if isinstance(e, ssl.SSLError):
        if "WRONG_VERSION_NUMBER" in str(e) or "record layer failure" in str(e):
            return RegistryError(f"{prefix}: http: server gave HTTP response to HTTPS client "
                                 f"(list {u.netloc} in LAYERBOX_INSECURE_REGISTRIES to use plain http)")
        return RegistryError(f"{prefix}: tls: {e.reason or e}".lower() if e.reason else f"{prefix}: tls: {e}")
    if isinstance(e, (socket.timeout, TimeoutError)):
        return RegistryError(f"{prefix}: dial tcp {hostport}: i/o timeout")
    if isinstance(e, ConnectionRefusedError):
        return RegistryError(f"{prefix}: dial tcp {hostport}: connect: connection refused")
    if isinstance(e, http.client.IncompleteRead):
        return RegistryError(f"{prefix}: unexpected EOF ({len(e.partial)} bytes read)")
    if isinstance(e, http.client.HTTPException):
        return RegistryError(f"{prefix}: {type(e).__name__}: {e}".rstrip(": "))
    if isinstance(e, OSError) and e.strerror:
        return RegistryError(f"{prefix}: {e.strerror.lower()}")
    return RegistryError(f"{prefix}: {e}")


# -- responses -----------------------------------------------------------------------------

class Response:
    """A response whose body the caller reads (or closes). Status, lower-cased headers."""

    __slots__ = ("status", "reason", "headers", "url", "_raw")

    def __init__(self, raw: http.client.HTTPResponse, url: str):
        self._raw = raw
        self.status = raw.status
        self.reason = raw.reason
        self.headers = {k.lower(): v for k, v in raw.getheaders()}
        self.url = url

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)

    def read(self, limit: int = _MAX_SMALL_BODY) -> bytes:
        """The whole body, refused above `limit` bytes (a registry cannot make us hold more)."""
        data = self._raw.read(limit + 1)
        if len(data) > limit:
            self.close()
            raise RegistryError(f"response from {self.url} is larger than {limit} bytes")
        return data

    def readinto(self, buf) -> int:
        return self._raw.readinto(buf)

    def body_source(self) -> dict | None:
        """The body as C++ reads it straight from the socket (no copy through Python, no pipe):
        {"src_fd", "src_prefix": what http.client buffered of it, "src_limit": the rest of its
        Content-Length, "src_timeout"}; taken from this response, which counts as read. None
        when the body is not that simple: TLS (decrypted in user space), chunked, no length.
        Whoever reads it and stops early calls abandon()."""
        raw = self._raw
        fp = raw.fp
        sock = getattr(getattr(fp, "raw", None), "_sock", None)
        if (fp is None or raw.chunked or raw.length is None or not isinstance(sock, socket.socket)
                or isinstance(sock, ssl.SSLSocket)):
            return None
        length = raw.length
        prefix = fp.peek(1)[:length] if length else b""  # what the buffer holds (or one read)
        if prefix:
            fp.read(len(prefix))
        raw.length = 0  # the rest is the caller's; http.client must not read it
        timeout = sock.gettimeout()
        return {"src_fd": sock.fileno(), "src_prefix": bytes(prefix), "src_limit": length - len(prefix),
                "src_timeout": -1.0 if timeout is None else timeout}

    def abandon(self) -> None:
        """A body_source() not read to its end: the connection cannot carry another request
        (the next one reconnects)."""
        sock = getattr(getattr(self._raw.fp, "raw", None), "_sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._raw.close()

    def close(self) -> None:
        self._raw.close()


# -- the registry --------------------------------------------------------------------------

class Registry:
    """One registry, as one user (credentials or anonymous). Safe to use from several threads:
    connections are per thread, tokens shared."""

    def __init__(self, ep: Endpoint, credentials: tuple[str, str] | None = None, timeout: float = _TIMEOUT):
        self.ep = ep
        self.credentials = credentials
        self.timeout = timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        self._challenge: tuple[str, dict] | None = None
        self._tokens: dict = {}
        self._opened: list = []  # every connection of every thread, for close()

    # -- connections
    def _conn(self, scheme: str, netloc: str, fresh: bool = False) -> http.client.HTTPConnection:
        conns = self._local.__dict__.setdefault("conns", {})
        key = (scheme, netloc)
        c = conns.get(key)
        if c is not None and fresh:
            c.close()
            c = None
        if c is None:
            if scheme == "https":
                if self.ep.insecure and netloc == self.ep.host:
                    # Nothing is verified: no CA store to load (create_default_context reads
                    # the system's, 65 ms here, on every pull from a local registry).
                    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                    ctx.check_hostname = False
                    ctx.verify_mode = ssl.CERT_NONE
                else:
                    ctx = ssl.create_default_context()
                c = http.client.HTTPSConnection(netloc, timeout=self.timeout, context=ctx)
            else:
                c = http.client.HTTPConnection(netloc, timeout=self.timeout)
            conns[key] = c
            with self._lock:
                self._opened.append(c)
        return c

    def close(self) -> None:
        """Closes the connections of every thread that used this registry (the workers of a
        pull or push have ended by then)."""
        with self._lock:
            opened, self._opened = self._opened, []
        for c in opened:
            c.close()
        self._local = threading.local()

    def __enter__(self) -> "Registry":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def url(self, path: str) -> str:
        return path if "://" in path else self.ep.base + path

    def _send(self, method: str, url: str, headers: dict, body) -> Response:
        """One request on this thread's connection to url's host (reopened once if the server
        closed a kept-alive connection). body: None, bytes, or (fd, size) sent from offset 0."""
        u = urllib.parse.urlsplit(url)
        target = u.path + ("?" + u.query if u.query else "")
        for attempt in (0, 1):
            conn = self._conn(u.scheme, u.netloc, fresh=attempt > 0)
            try:
                if isinstance(body, tuple):
                    _send_file(conn, method, target, headers, *body)
                else:
                    conn.request(method, target, body=body, headers=headers)
                raw = conn.getresponse()
                return Response(raw, url)
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
                    http.client.CannotSendRequest, http.client.ResponseNotReady) as e:
                conn.close()
                if attempt:
                    raise connection_error(method, url, e) from None
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                if self._fall_back(u, e):
                    return self._send(method, "http" + url[5:], headers, body)
                raise connection_error(method, url, e) from None
        raise AssertionError("unreachable")

    def _fall_back(self, u, e: BaseException) -> bool:
        """An insecure registry that does not speak TLS (or cannot be reached over it) is
        tried over plain http, and known as http from then on (docker's order)."""
        if u.scheme != "https" or not self.ep.insecure or u.netloc != self.ep.host:
            return False
        if not isinstance(e, (ssl.SSLError, ConnectionError, socket.timeout, TimeoutError)):
            return False
        self.ep.scheme = "http"
        return True

    # -- auth
    def _authorization(self, scopes: tuple) -> str | None:
        ch = self._challenge
        if ch is None:
            return None
        scheme, params = ch
        if scheme == "basic":
            return basic_auth(*self.credentials) if self.credentials else None
        if scheme == "bearer":
            return "Bearer " + self._token(params, scopes)
        return None

    def _token(self, params: dict, scopes: tuple, force: bool = False) -> str:
        key = " ".join(sorted(scopes))
        with self._lock:
            tok = self._tokens.get(key)
        if tok and not force:
            return tok
        tok = self.fetch_token(params, scopes)
        with self._lock:
            self._tokens[key] = tok
        return tok

    def fetch_token(self, params: dict, scopes: tuple) -> str:
        """A bearer token for `scopes` from the challenge's realm (with the stored credentials
        as Basic auth when there are any)."""
        realm = params.get("realm") or ""
        if not realm.startswith(("http://", "https://")):
            raise RegistryError(f"{self.ep.domain}: token auth realm {realm!r} is not a URL")
        q = []
        if params.get("service"):
            q.append(("service", params["service"]))
        for s in scopes:
            q.append(("scope", s))
        headers = {"User-Agent": _user_agent()}
        if self.credentials:
            headers["Authorization"] = basic_auth(*self.credentials)
            q.append(("account", self.credentials[0]))
        url = realm + ("&" if "?" in realm else "?") + urllib.parse.urlencode(q) if q else realm
        resp = self._send("GET", url, headers, None)
        body = resp.read()
        if resp.status != 200:
            text, code = error_text(resp.status, resp.reason, body)
            if resp.status == 401 and self.credentials:
                text = "unauthorized: incorrect username or password"
            raise RegistryError(f'Get "{realm}": {text}' if resp.status not in (401, 403) else text,
                                resp.status, code)
        from layerbox import shape

        try:
            doc = shape.load(body, {"token": str, "access_token": str}, "token", ValueError)
            tok = doc.get("token") or doc.get("access_token")
        except ValueError:
            tok = None
        if not tok:
            raise RegistryError(f"{realm}: the token server answered without a token")
        return tok

    # -- requests
    def request(self, method: str, path: str, *, scopes: tuple = (), headers: dict | None = None,
                body=None, follow: bool = False, ok: tuple = (200,)) -> Response:
        """Sends method path (relative to the registry, or a whole URL from a Location);
        answers a 401 once with what its challenge asks for; follows redirects when `follow`.
        Returns the response when its status is in `ok`, else raises RegistryError."""
        url = self.url(path)
        hdrs = {"User-Agent": _user_agent()}
        hdrs.update(headers or {})
        auth = self._authorization(scopes)
        if auth:
            hdrs["Authorization"] = auth
        retried = False
        redirects = 0
        while True:
            resp = self._send(method, url, hdrs, body)
            if resp.status == 401 and not retried and resp.header("www-authenticate"):
                # First contact, or a token that expired or lacks a scope: once more with what
                # the challenge asks for (Basic only helps when we did not send it already).
                retried = True
                self._challenge = scheme, params = parse_challenge(resp.header("www-authenticate"))
                sent_basic = hdrs.get("Authorization", "").startswith("Basic ")
                if scheme == "bearer":
                    resp.read()
                    tok = self._token(params, scopes or _scopes_of(params), force=True)
                    hdrs["Authorization"] = "Bearer " + tok
                    continue
                if scheme == "basic" and self.credentials and not sent_basic:
                    resp.read()
                    hdrs["Authorization"] = basic_auth(*self.credentials)
                    continue
            if follow and resp.status in (301, 302, 303, 307, 308) and resp.header("location"):
                resp.read()
                redirects += 1
                if redirects > _MAX_REDIRECTS:
                    raise RegistryError(f'{_go_method(method)} "{url}": stopped after {_MAX_REDIRECTS} redirects')
                new = urllib.parse.urljoin(url, resp.header("location"))
                if urllib.parse.urlsplit(new).netloc != urllib.parse.urlsplit(url).netloc:
                    hdrs.pop("Authorization", None)  # object storage: a signed URL, no registry auth
                if resp.status == 303:
                    method, body = "GET", None
                url = new
                continue
            break
        if resp.status in ok:
            return resp
        text, code = error_text(resp.status, resp.reason, resp.read() if method != "HEAD" else b"")
        raise RegistryError(text, resp.status, code)

    def ping(self) -> Response:
        """GET /v2/: is it a registry, and what auth does it ask for (learned for later)."""
        return self.request("GET", "/v2/", ok=(200, 401))


def _scopes_of(params: dict) -> tuple:
    s = params.get("scope")
    return tuple(s.split(" ")) if s else ()


def _send_file(conn: http.client.HTTPConnection, method: str, target: str, headers: dict, fd: int, size: int,
               meter=None):
    """A request whose body is `size` bytes of fd from offset 0: sendfile(2) on a plain
    connection, 1 MiB reads on TLS (which must encrypt in user space anyway). `meter`
    (progress.Meter) counts what went out, for the "Pushing" messages."""
    conn.putrequest(method, target, skip_accept_encoding=True)
    for k, v in headers.items():
        conn.putheader(k, v)
    conn.putheader("Content-Length", str(size))
    conn.endheaders()
    os.lseek(fd, 0, os.SEEK_SET)
    sock = conn.sock
    if isinstance(sock, ssl.SSLSocket):
        buf = bytearray(1 << 20)
        view = memoryview(buf)
        left = size
        while left:
            n = os.readv(fd, [view[:min(left, len(buf))]])
            if n <= 0:
                raise OSError(5, "blob file shrank while it was being sent")
            sock.sendall(view[:n])
            left -= n
            if meter is not None:
                meter.add(n)
    else:
        with open(fd, "rb", closefd=False) as f:
            if meter is None:
                sock.sendfile(f, 0, size)
                return
            step, offset = 4 << 20, 0  # 4 MiB per sendfile: a progress step, still zero-copy
            while offset < size:
                n = min(step, size - offset)
                sock.sendfile(f, offset, n)
                offset += n
                meter.add(n)


def _user_agent() -> str:
    from layerbox import _core

    return f"layerbox/{_core.__version__}"
