"""docker top: the host's `ps` with the user's options, narrowed to the container's processes,
as dockerd's ContainerTop does (daemon/top_unix.go): the same options work (`-o pid,comm`,
`aux`, `-eLf`), the same columns come back."""

from __future__ import annotations

import re
import subprocess

from layerbox.errors import InvalidArgument, LayerboxError

# "pid=PID" would relabel ps's PID column; any other "key=PID..." would hide it.
_RELABEL = re.compile(r"\s+([^\s]*)=\s*(PID[^\s]*)")


class TopError(LayerboxError):
    """ps failed: its first line of stderr says why."""


def validate_ps_args(ps_args: str) -> None:
    for key, val in _RELABEL.findall(ps_args):
        if key != "pid":
            raise InvalidArgument(f'specifying "{key}={val}" is not allowed')


def top(pids: list[int], ps_args: str = "") -> dict:
    """{"Titles": [...], "Processes": [[...], ...]} for these pids."""
    ps_args = ps_args or "-ef"
    validate_ps_args(ps_args)
    args = ps_args.split(" ")
    q = ",".join(str(p) for p in pids)
    # -q PIDS first (cheap and exact); some options (such as f) refuse it: then all processes.
    r = subprocess.run(["ps", *args, "-q", q], capture_output=True)
    if r.returncode != 0:
        r = subprocess.run(["ps", *args], capture_output=True)
        if r.returncode != 0:
            first = r.stderr.decode(errors="replace").split("\n", 1)[0].strip()
            raise TopError(f"ps: {first or f'exit status {r.returncode}'}")
    return parse_ps_output(r.stdout.decode(errors="replace"), set(pids))


def _fields(line: str) -> list[str]:
    # ASCII white space only, as docker's fieldsASCII (a command may hold other spaces)
    return [f for f in re.split(r"[ \t\n\v\f\r]+", line) if f]


def parse_ps_output(output: str, pids: set) -> dict:
    lines = output.split("\n")
    titles = _fields(lines[0])
    if "PID" not in titles:
        raise TopError("Couldn't find PID field in ps output")
    pid_col = titles.index("PID")
    procs = []
    in_container = False  # a thread line ("-" as its PID, with `m`) follows its process
    for line in lines[1:]:
        if not line:
            continue
        fields = _fields(line)
        if len(fields) <= pid_col:
            continue
        if fields[pid_col] == "-":
            if in_container:
                procs.append(_fit(fields, len(titles)))
            continue
        try:
            pid = int(fields[pid_col])
        except ValueError:
            raise TopError(f"Unexpected pid '{fields[pid_col]}'") from None
        in_container = pid in pids
        if in_container:
            procs.append(_fit(fields, len(titles)))
    return {"Titles": titles, "Processes": procs}


def _fit(fields: list[str], n: int) -> list[str]:
    """As many cells as titles: what overhangs (a command's arguments) joins the last one."""
    return fields[:n - 1] + [" ".join(fields[n - 1:])]
