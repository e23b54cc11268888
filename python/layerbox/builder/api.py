"""``client.images.build(...)`` and what the CLI's ``build`` shares with it: finding the
context and the Dockerfile, and where the build's output goes.

A context is a directory (read in place, ``.dockerignore`` applied), a tar (plain, gzip, bzip2,
xz or zstd; from stdin or the SDK's ``fileobj`` with ``custom_context=True``) extracted into a
staging directory of the store, or nothing at all when only a Dockerfile is given (``build -``
with a Dockerfile on stdin, the SDK's ``fileobj`` without ``custom_context``).
"""

from __future__ import annotations

import os

from layerbox.errors import BuildError, InvalidArgument, LayerboxError, describe

from .dispatch import Builder, BuildOptions, Output, RunFailed

__all__ = ["build", "prepare", "run_build", "LogOutput", "RunFailed"]


def _capture(sink):
    """(fd for a container's stdout and stderr, finish()): what the container writes reaches
    sink(bytes) from a thread; finish() waits until all of it has."""
    from layerbox import _util

    r, w = os.pipe()

    def reader():
        try:
            while True:
                data = os.read(r, 65536)
                if not data:
                    break
                sink(data)
        finally:
            os.close(r)

    t = _util.spawn(reader)
    closed = []

    def finish():
        if not closed:
            closed.append(True)
            os.close(w)  # the monitor holds its own copy until it exits: then EOF
            t.join()

    return w, finish


class LogOutput(Output):
    """docker-py's log: ``{"stream": text}`` dicts, RUN output included, in order."""

    def __init__(self):
        self.logs: list = []

    def write(self, text: str) -> None:
        # list.append is atomic: the capture thread of a RUN step may write at the same time
        self.logs.append({"stream": text})

    def run_stdio(self):
        w, finish = _capture(lambda b: self.write(b.decode("utf-8", "replace")))
        return w, w, finish

    def text(self) -> str:
        return "".join(d.get("stream", "") for d in self.logs)


# -- finding the context and the Dockerfile -------------------------------------------------

class Prepared:
    """A context, the Dockerfile's text and the name messages give it."""

    def __init__(self, context, text: bytes, name: str):
        self.context = context
        self.text = text
        self.name = name

    def close(self) -> None:
        self.context.close()

    def __enter__(self) -> "Prepared":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _read_dockerfile(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise BuildError(f"unable to prepare context: unable to evaluate symlinks in Dockerfile "
                         f"path: lstat {path}: no such file or directory", exit_code=1) from None
    except IsADirectoryError:
        raise BuildError(f"unable to prepare context: {path} is a directory, not a Dockerfile",
                         exit_code=1) from None


def prepare(store, *, path: str | None = None, tar_fd: int | None = None,
            dockerfile: str | None = None, dockerfile_text: bytes | None = None) -> Prepared:
    """The build's context and Dockerfile.

    ``path``: a context directory; ``dockerfile`` is then a host path (absolute, or relative
    to the caller's working directory, as docker's CLI takes ``-f``), default
    ``path/Dockerfile`` (or ``path/dockerfile``). ``tar_fd``: a context tar, or a Dockerfile
    alone when what it holds is no archive; ``dockerfile`` is then a path inside the tar.
    ``dockerfile_text``: the Dockerfile itself (``-f -``), whatever the context.
    """
    from .context import BuildContext

    if path is not None:
        if not os.path.exists(path):
            raise BuildError(f'unable to prepare context: path "{path}" not found', exit_code=1)
        if not os.path.isdir(path):
            raise BuildError(f"unable to prepare context: context must be a directory: {path}",
                             exit_code=1)
        if dockerfile_text is not None:
            text, name = dockerfile_text, "Dockerfile"
        else:
            if dockerfile:
                df_path = os.path.abspath(dockerfile)
            else:
                df_path = os.path.join(path, "Dockerfile")
                if not os.path.exists(df_path) and os.path.exists(os.path.join(path, "dockerfile")):
                    df_path = os.path.join(path, "dockerfile")
            text, name = _read_dockerfile(df_path), os.path.basename(df_path)
        ctx = BuildContext.from_dir(path)
        ctx.remember_digests(store)
        return Prepared(ctx, text, name)
    if tar_fd is None:
        raise InvalidArgument("a build needs a context directory, a context tar or a Dockerfile")
    store.ensure()
    staging = store.mkdtemp("build-context")

    def cleanup():
        from layerbox import _core

        _core.remove_tree(staging)

    try:
        root = os.path.join(staging, "context")
        os.mkdir(root, 0o755)
        is_tar, head = _extract_context(tar_fd, root, store.min_free())
        if not is_tar:
            # Not an archive: the whole input is the Dockerfile, and there is no context.
            return Prepared(BuildContext.empty(root, cleanup), dockerfile_text or head, "Dockerfile")
        name = dockerfile or "Dockerfile"
        if dockerfile_text is not None:
            text = dockerfile_text
        else:
            from .context import BuildContext as _B

            probe = _B.empty(root)
            real = probe.real_path(name.lstrip("/"))
            if real is None and not dockerfile:
                real = probe.real_path("dockerfile")
            if real is None or not os.path.isfile(os.path.join(root, real)):
                raise BuildError(f"Cannot locate specified Dockerfile: {name}", exit_code=1)
            with open(os.path.join(root, real), "rb") as f:
                text = f.read()
        return Prepared(BuildContext.from_tar_dir(root, name, cleanup), text, os.path.basename(name))
    except BaseException:
        cleanup()
        raise


_COMPRESSED = ((b"\x1f\x8b\x08", "gzip"), (b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"),
               (b"\x28\xb5\x2f\xfd", "zstd"))


def _chunks(fd: int, head: bytes):
    """``head`` (already read from fd), then the rest of fd."""
    yield head
    while True:
        c = os.read(fd, 1 << 20)
        if not c:
            return
        yield c


def _extract_context(fd: int, root: str, min_free: int = 0):
    """Extracts the tar read from fd into root: (True, b""); or (False, everything read)
    when the input is no archive (then it is a Dockerfile). min_free: the store's reserve
    (a context from stdin is as untrusted as any archive)."""
    from layerbox import _core
    from layerbox._util import start_producer

    from .files import looks_like_tar

    head = b""
    while len(head) < 4096:
        chunk = os.read(fd, 4096 - len(head))
        if not chunk:
            break
        head += chunk
    kind = "none"
    for magic, name in _COMPRESSED:
        if head.startswith(magic):
            kind = name
            break
    if kind == "none" and not looks_like_tar(head):
        return False, b"".join(_chunks(fd, head))

    def produce(w):
        dec = None
        if kind == "bzip2":
            import bz2

            dec = bz2.BZ2Decompressor()
        elif kind == "xz":
            import lzma

            dec = lzma.LZMADecompressor()
        for c in _chunks(fd, head):
            data = dec.decompress(c) if dec is not None else c
            view = memoryview(data)
            while view:
                view = view[os.write(w, view):]

    r, t, err = start_producer(produce)
    try:
        _core.extract_layer(r, root, whiteouts="none", min_free=min_free)
    except OSError as e:
        raise BuildError(f"unable to prepare context: the context is not a valid tar: {describe(e)}",
                         exit_code=1) from None
    finally:
        os.close(r)
        t.join()
    if err and not isinstance(err[0], BrokenPipeError):
        raise BuildError(f"unable to prepare context: {err[0]}", exit_code=1)
    return True, b""


# -- running a build ------------------------------------------------------------------------

class Services:
    """The store, image store and container engine a build uses (those of ``engine``)."""

    def __init__(self, engine):
        self.store = engine.store
        self.images = engine.images
        self.engine = engine


def run_build(services, prepared: Prepared, options: BuildOptions, output: Output) -> str:
    """Parses the Dockerfile (every mistake reported before any step runs) and builds it.
    ``services``: see :class:`~layerbox.builder.dispatch.Builder`."""
    from . import dockerfile as D

    try:
        df = D.parse(prepared.text, prepared.name)
    except D.DockerfileError as e:
        raise BuildError(str(e), exit_code=1) from None
    return Builder(services, prepared.context, df, options, output).build()


def build(engine, path=None, fileobj=None, tag=None, quiet=False, nocache=False, rm=True,
          timeout=None, custom_context=False, encoding=None, pull=False, forcerm=False,
          dockerfile=None, buildargs=None, container_limits=None, shmsize=None, labels=None,
          cache_from=None, target=None, network_mode=None, squash=None, extra_hosts=None,
          platform=None, isolation=None, use_config_proxy=True, **_ignored):
    """The SDK's ``ImageCollection.build`` with the container engine ``engine``: returns
    ``(image ID, iterator of log dicts)``; raises BuildError (with ``build_log``) when the
    build fails."""
    if path is None and fileobj is None:
        raise TypeError("Either path or fileobj needs to be provided.")
    if path is not None and (path.startswith(("http://", "https://", "git://", "github.com/"))
                             or path.endswith(".git")):
        raise InvalidArgument(f"remote build contexts are not supported: {path}")
    if platform and platform not in ("linux", "linux/amd64", "amd64"):
        raise InvalidArgument(f"platform {platform} is not supported here (linux/amd64 only)")
    tags = [tag] if isinstance(tag, str) and tag else list(tag or [])
    options = BuildOptions(tags=tags, buildargs=buildargs, target=target, nocache=nocache,
                           pull=pull, labels=labels, network_mode=network_mode, rm=rm,
                           forcerm=forcerm, quiet=quiet)
    out = LogOutput()
    try:
        prepared = _prepare_for_sdk(engine.store, path, fileobj, custom_context, dockerfile)
        with prepared:
            image_id = run_build(Services(engine), prepared, options, out)
    except BuildError as e:
        out.logs.append({"error": str(e), "errorDetail": {"message": str(e)}})
        raise BuildError(str(e), out.logs, exit_code=e.exit_code) from None
    except LayerboxError as e:
        out.logs.append({"error": str(e), "errorDetail": {"message": str(e)}})
        raise BuildError(str(e), out.logs) from None
    logs = [{"stream": image_id + "\n"}] if quiet else out.logs
    logs = logs + [{"aux": {"ID": image_id}}]
    return image_id, iter(logs)


def _prepare_for_sdk(store, path, fileobj, custom_context, dockerfile) -> Prepared:
    if fileobj is not None:
        from layerbox.image.archive import feed

        if not custom_context:
            data = fileobj.read() if hasattr(fileobj, "read") else fileobj
            if isinstance(data, str):
                data = data.encode()
            r, t = feed(b"")  # an empty context: only the Dockerfile
            try:
                return prepare(store, tar_fd=r, dockerfile_text=data)
            finally:
                os.close(r)
                t.join()
        r, t = feed(fileobj)
        try:
            return prepare(store, tar_fd=r, dockerfile=dockerfile)
        finally:
            os.close(r)
            t.join()
    df = None
    if dockerfile:
        # The SDK names the Dockerfile relative to the context (or absolute).
        df = dockerfile if os.path.isabs(dockerfile) else os.path.join(path, dockerfile)
    return prepare(store, path=path, dockerfile=df)
