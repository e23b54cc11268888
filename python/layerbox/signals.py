"""Signals by name or number, as docker reads them (moby/sys/signal.ParseSignal on Linux).

One table for every place a signal comes from the user: ``kill -s``, ``stop -s``,
``--stop-signal``, the SDK's ``kill(signal=)``, ``STOPSIGNAL`` in a Dockerfile and ``commit -c``.
A name is taken with or without ``SIG``, in any case (``SIGTERM``, ``term``), as are the
real-time names docker knows (``RTMIN``, ``RTMIN+1`` .. ``RTMIN+15``, ``RTMAX-14`` .. ``RTMAX``);
a number is taken when the kernel can deliver it (1 to 64): docker also accepts larger numbers,
but no container could then be stopped with them, so they are refused where they are written.
"""

from __future__ import annotations

from layerbox.errors import InvalidArgument

SIGRTMIN = 34  # glibc's SIGRTMIN as docker's table has it (the kernel's 32 plus glibc's two)
SIGRTMAX = 64  # the kernel's _NSIG

_NAMES = {
    "ABRT": 6, "ALRM": 14, "BUS": 7, "CHLD": 17, "CLD": 17, "CONT": 18, "FPE": 8, "HUP": 1,
    "ILL": 4, "INT": 2, "IO": 29, "IOT": 6, "KILL": 9, "PIPE": 13, "POLL": 29, "PROF": 27,
    "PWR": 30, "QUIT": 3, "SEGV": 11, "STKFLT": 16, "STOP": 19, "SYS": 31, "TERM": 15,
    "TRAP": 5, "TSTP": 20, "TTIN": 21, "TTOU": 22, "URG": 23, "USR1": 10, "USR2": 12,
    "VTALRM": 26, "WINCH": 28, "XCPU": 24, "XFSZ": 25,
    "RTMIN": SIGRTMIN, "RTMAX": SIGRTMAX,
    **{f"RTMIN+{i}": SIGRTMIN + i for i in range(1, 16)},
    **{f"RTMAX-{i}": SIGRTMAX - i for i in range(1, 15)},
}


def parse(value) -> int:
    """The signal number ``value`` names; InvalidArgument ``Invalid signal: X`` otherwise."""
    if isinstance(value, int) and not isinstance(value, bool):
        if 0 < value <= SIGRTMAX:
            return value
        raise InvalidArgument(f"Invalid signal: {value}")
    text = str(value).strip()
    digits = text[1:] if text[:1] in "+-" else text
    if digits.isdigit() and digits.isascii():
        n = int(text)
        if 0 < n <= SIGRTMAX:
            return n
        raise InvalidArgument(f"Invalid signal: {value}")
    name = text.upper()
    if name.startswith("SIG"):
        name = name[3:]
    n = _NAMES.get(name)
    if n is None:
        raise InvalidArgument(f"Invalid signal: {value}")
    return n


def valid(value) -> bool:
    """Whether :func:`parse` takes ``value``."""
    try:
        parse(value)
    except InvalidArgument:
        return False
    return True
