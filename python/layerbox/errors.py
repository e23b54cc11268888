"""One hierarchy for every failure layerbox reports.

The names and their nesting follow the Docker SDK for Python (``docker.errors``), so code written
against it carries over: ``APIError`` > ``NotFound`` > ``ImageNotFound``, ``ContainerError``,
``BuildError``, ``ImageLoadError``, ``InvalidArgument``. Everything is also a ``LayerboxError``
(alias ``DockerException``). Failures of the kernel arrive as ``KernelError``, which is also an
``OSError`` carrying ``errno``, ``filename`` and the failing ``syscall``.

``exit_code`` on an error is what its own process would exit with (a StartError: 126/127 for a
command that cannot be run or found; a ContainerError: the container's status). Which exit code
a failing *command* gives is docker's table in layerbox.cli.main (``exit_code``).
"""

from __future__ import annotations

EXIT_ENGINE = 125
EXIT_CANNOT_INVOKE = 126
EXIT_NOT_FOUND = 127


class LayerboxError(Exception):
    """Base of every layerbox error."""

    exit_code = EXIT_ENGINE

    @property
    def explanation(self) -> str:  # the SDK's APIError exposes this
        return str(self)


DockerException = LayerboxError


class APIError(LayerboxError):
    """The engine refused or failed an operation (the SDK's APIError)."""

    status_code = 500

    def is_client_error(self) -> bool:
        return 400 <= self.status_code < 500

    def is_server_error(self) -> bool:
        return self.status_code >= 500


class NotFound(APIError):
    """No such container, image, layer or path."""

    status_code = 404


class ImageNotFound(NotFound):
    """No such image."""


class ContainerNotFound(NotFound):
    """No such container."""


class Conflict(APIError):
    """The operation conflicts with the current state (name in use, container running, ...)."""

    status_code = 409


class Forbidden(APIError):
    """The operation is not allowed on what it targets (a read-only volume or root filesystem:
    the Engine API's 403)."""

    status_code = 403


class Timeout(APIError, TimeoutError):
    """Waiting for a container took longer than the timeout given."""

    status_code = 408


class InvalidArgument(LayerboxError):
    """A bad option, reference, path or instruction supplied by the caller."""


class ImageLoadError(LayerboxError):
    """An archive could not be loaded (corrupt, unsupported, or a digest mismatch)."""


class BuildError(LayerboxError):
    """A build failed. ``build_log`` holds the log lines up to the failure."""

    def __init__(self, reason: str, build_log: list | None = None, exit_code: int = EXIT_ENGINE):
        super().__init__(reason)
        self.msg = reason
        self.build_log = build_log or []
        self.exit_code = exit_code


class ContainerError(LayerboxError):
    """A container run with ``detach=False`` exited with a non-zero status."""

    def __init__(self, container, exit_status: int, command, image, stderr: bytes | None):
        self.container = container
        self.exit_status = exit_status
        self.command = command
        self.image = image
        self.stderr = stderr
        err = f": {stderr.decode(errors='replace')}" if stderr else ""
        super().__init__(
            f"Command '{command}' in image '{image}' returned non-zero exit status "
            f"{exit_status}{err}"
        )
        self.exit_code = exit_status


class KernelError(APIError, OSError):
    """A syscall failed. ``errno``, ``filename`` and ``syscall`` say which, on what, and why."""

    syscall = ""

    def __str__(self) -> str:
        return self.strerror or super().__str__()


class StartError(KernelError):
    """The container's process could not be started.

    ``exit_code`` is docker's: 127 when the command does not exist, 126 when it cannot be
    invoked, 125 when the engine failed.
    """

    exit_code = EXIT_ENGINE


def describe(e: BaseException) -> str:
    """An error as the user reads it: ours as it is; a bare OSError as docker words a failed
    syscall ("/x/lock: permission denied", "/x: no space left on device"), never Python's
    "[Errno 13] Permission denied: '/x/lock'"."""
    if isinstance(e, LayerboxError) or not isinstance(e, OSError):
        return str(e)
    import os

    text = e.strerror.lower() if e.strerror else str(e)
    if e.filename is not None:
        where = os.fsdecode(e.filename)
        if e.filename2 is not None:
            where += " " + os.fsdecode(e.filename2)
        text = f"{where}: {text}"
    if e.errno in (1, 13) and os.geteuid() != 0:  # EPERM, EACCES
        text += " (layerbox needs root)"
    return text


__all__ = [
    "APIError", "BuildError", "Conflict", "ContainerError", "ContainerNotFound",
    "DockerException", "ImageLoadError", "ImageNotFound", "InvalidArgument", "KernelError",
    "LayerboxError", "NotFound", "StartError", "Timeout", "describe",
]
