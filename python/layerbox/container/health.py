"""Healthchecks: docker's HEALTHCHECK and ``--health-*`` options, resolved here and run by the
container's monitor (csrc/shim/health.cpp: no daemon), which records State.Health in
state.json. Docker's rules (moby daemon/health.go, cli opts.go), docker 20.10 as the reference:

- Config.Healthcheck ``{"Test", "Interval", "Timeout", "StartPeriod", "Retries"}``, durations in
  nanoseconds: ``Test`` ``["NONE"]`` disables the image's check, ``["CMD", argv...]`` runs argv,
  ``["CMD-SHELL", "cmd"]`` runs it with the image's SHELL (``/bin/sh -c``); a field left 0 (or
  an empty Test) takes the image's value, then docker's default (30s, 30s, 0s, 3 retries).
- The first probe runs one interval after the start, each next one an interval after the
  previous ended; exit 0 is healthy, anything else a failure; a failure while "starting" within
  the start period does not count; ``retries`` failures in a row make it unhealthy. A probe
  past its timeout is killed and recorded as exit -1 "Health check exceeded timeout (30s)".
  The last 5 results are kept, each probe's output up to 4096 bytes. A stopped container's
  health is "unhealthy".

``state_health`` is the one reader of a container's health (inspect, ps and the Engine API).
"""

from __future__ import annotations

from layerbox.errors import InvalidArgument

DEFAULT_INTERVAL = 30 * 10**9
DEFAULT_TIMEOUT = 30 * 10**9
DEFAULT_RETRIES = 3
MIN_DURATION = 10**6  # docker's container.MinimumDuration (1ms)
STATUSES = ("starting", "healthy", "unhealthy")


def _duration(value, flag: str) -> int:
    """A Go duration ("30s", "1m30s", "500ms") or nanoseconds (the SDK's int) -> nanoseconds."""
    if value is None or value == "":
        return 0
    if isinstance(value, bool):
        raise InvalidArgument(f"invalid argument \"{value}\" for \"{flag}\" flag")
    if isinstance(value, int):
        return value
    from layerbox.builder.dockerfile.gocompat import parse_duration

    try:
        return parse_duration(str(value))
    except ValueError as e:
        raise InvalidArgument(f"invalid argument \"{value}\" for \"{flag}\" flag: {e}") from None


def from_options(opts: dict) -> dict | None:
    """The container's own Healthcheck from the CLI's --health-* (``health_cmd``,
    ``health_interval``, ...) or the SDK's ``healthcheck={...}``; None when neither is given."""
    sdk = opts.get("healthcheck")
    no_check = bool(opts.get("no_healthcheck"))
    cli = {k: opts.get(k) for k in ("health_cmd", "health_interval", "health_timeout",
                                     "health_retries", "health_start_period")}
    given = {k: v for k, v in cli.items() if v not in (None, "", 0)}
    if no_check:
        if given:
            raise InvalidArgument("--no-healthcheck conflicts with --health-* options")
        return {"Test": ["NONE"]}
    if sdk is not None:
        return _from_sdk(sdk)
    if not given:
        return None
    hc: dict = {}
    if cli["health_cmd"]:
        hc["Test"] = ["CMD-SHELL", cli["health_cmd"]]
    for key, flag, field in (("health_interval", "--health-interval", "Interval"),
                             ("health_timeout", "--health-timeout", "Timeout"),
                             ("health_start_period", "--health-start-period", "StartPeriod")):
        d = _duration(cli[key], flag)
        if d < 0:
            raise InvalidArgument(f"{flag} cannot be negative")
        hc[field] = d
    retries = cli["health_retries"]
    try:
        retries = int(retries or 0)
    except (TypeError, ValueError):
        raise InvalidArgument(f"invalid argument \"{retries}\" for \"--health-retries\" flag") from None
    if retries < 0:
        raise InvalidArgument("--health-retries cannot be negative")
    hc["Retries"] = retries
    return _check(hc)


def _from_sdk(sdk) -> dict:
    """docker-py's Healthcheck: test (a string is CMD-SHELL), interval, timeout, retries,
    start_period (nanoseconds), lower-case or docker's own capitalized keys."""
    if not isinstance(sdk, dict):
        raise InvalidArgument("healthcheck must be a dict")
    keys = {"test": "Test", "interval": "Interval", "timeout": "Timeout", "retries": "Retries",
            "start_period": "StartPeriod", "startperiod": "StartPeriod"}
    hc: dict = {}
    for k, v in sdk.items():
        field = keys.get(str(k).lower())
        if field is None:
            raise InvalidArgument(f"healthcheck: unknown key {k!r}")
        hc[field] = v
    test = hc.get("Test")
    if isinstance(test, str):
        hc["Test"] = ["CMD-SHELL", test]
    elif test is not None:
        hc["Test"] = [str(t) for t in test]
    for field in ("Interval", "Timeout", "StartPeriod"):
        if field in hc:
            hc[field] = _duration(hc[field], field.lower())
    if "Retries" in hc:
        hc["Retries"] = int(hc["Retries"] or 0)
    return _check(hc)


def _check(hc: dict) -> dict:
    """The daemon's checks (moby daemon/container.go verifyContainerSettings)."""
    test = hc.get("Test") or []
    if test and test[0] not in ("NONE", "CMD", "CMD-SHELL"):
        raise InvalidArgument(f"unknown healthcheck type '{test[0]}' (expected NONE, CMD or CMD-SHELL)")
    if test and test[0] in ("CMD", "CMD-SHELL") and len(test) < 2:
        raise InvalidArgument(f"healthcheck {test[0]} needs a command")
    for field in ("Interval", "Timeout", "StartPeriod"):
        d = hc.get(field) or 0
        if d != 0 and d < MIN_DURATION:
            raise InvalidArgument(f"{field} in Healthcheck cannot be less than 1ms")
    if (hc.get("Retries") or 0) < 0:
        raise InvalidArgument("Retries in Healthcheck cannot be negative")
    return hc


def merge(image_hc: dict | None, own: dict | None) -> dict | None:
    """The container's Config.Healthcheck: its own fields, the image's where its own are unset
    (moby's merge in daemon/commit.go)."""
    if not own:
        return dict(image_hc) if image_hc else None
    if not image_hc:
        return dict(own)
    out = dict(own)
    if not out.get("Test"):
        out["Test"] = list(image_hc.get("Test") or [])
    for field in ("Interval", "Timeout", "StartPeriod", "Retries"):
        if not out.get(field) and image_hc.get(field):
            out[field] = image_hc[field]
    return out


def active(hc: dict | None) -> bool:
    test = (hc or {}).get("Test") or []
    return bool(test) and test[0] in ("CMD", "CMD-SHELL")


def go_duration(ns: int) -> str:
    """Go's Duration.String() for what docker prints ("30s", "1m30s", "500ms")."""
    from layerbox.builder.dockerfile.gocompat import go_duration as _go_duration

    return _go_duration(ns)


def probe_argv(hc: dict, shell: list | None) -> list:
    test = hc["Test"]
    if test[0] == "CMD-SHELL":
        return list(shell or ["/bin/sh", "-c"]) + [test[1]]
    return list(test[1:])


def monitor_part(config: dict, plan: dict, cgroup: dict, shim: str) -> dict | None:
    """What the monitor needs to run the container's check (csrc/shim/health.hpp): timings and
    the probe's exec spec, whose process is the container init's own (user, groups, env,
    working directory, capabilities, seccomp) with the check's argv; None without a check."""
    hc = config["Config"].get("Healthcheck")
    if not active(hc):
        return None
    timeout = hc.get("Timeout") or DEFAULT_TIMEOUT
    proc = dict(plan["process"])
    proc.update(args=probe_argv(hc, config["Config"].get("Shell")), tty=False, rows=0, cols=0,
                create_cwd=False)
    return {
        "interval_ms": max(1, (hc.get("Interval") or DEFAULT_INTERVAL) // 10**6),
        "timeout_ms": max(1, timeout // 10**6),
        "start_period_ms": (hc.get("StartPeriod") or 0) // 10**6,
        "retries": hc.get("Retries") or DEFAULT_RETRIES,
        "timeout_text": go_duration(timeout),
        "exec": {"cgroup": cgroup, "namespaces": plan.get("exec_namespaces") or plan["namespaces"],
                 "helper": shim,
                 "process": proc},
    }


def state_health(c) -> dict | None:
    """State.Health as docker's inspect shows it ({"Status", "FailingStreak", "Log"}), or None
    for a container without a healthcheck. The one reader of a container's health."""
    if not active(c.config["Config"].get("Healthcheck")):
        return None
    h = c.state.get("Health")
    if not isinstance(h, dict) or not h:
        # Never started: docker shows nothing yet; stopped with no probe run: unhealthy.
        if c.state.get("Status", "created") == "created":
            return None
        return {"Status": "unhealthy", "FailingStreak": 0, "Log": []}
    out = {"Status": h.get("Status", "starting"), "FailingStreak": int(h.get("FailingStreak") or 0),
           "Log": list(h.get("Log") or [])}
    if c.state.get("Status") not in ("running", "paused", "restarting"):
        out["Status"] = "unhealthy"  # the monitor's last word, or a monitor that died
    return out


def status_word(c) -> str:
    """ps's health filter value: starting, healthy, unhealthy or none."""
    h = state_health(c)
    return h["Status"] if h else "none"


def ps_suffix(c) -> str:
    """What docker's ps appends to "Up 3 seconds": " (healthy)", " (health: starting)"."""
    if c.state.get("Status") != "running":
        return ""
    h = state_health(c)
    if not h:
        return ""
    return " (health: starting)" if h["Status"] == "starting" else f" ({h['Status']})"
