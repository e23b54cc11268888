"""``--log-driver`` and ``--log-opt``: HostConfig.LogConfig, checked as docker checks it, and
what the monitor is told to write (csrc/core/logfile.hpp).

- ``json-file`` (docker's default): docker's format on disk, one
  ``{"log":..,"stream":..,"time":..}`` record per line; ``max-size`` (go-units' FromHumanSize:
  decimal, "10m" is 10,000,000 bytes) and ``max-file`` (default 1) rotate it as docker does.
- ``local``: docker keeps its own binary format for it, which nothing outside the daemon reads;
  here it is the same json-file format with local's defaults (max-size 20m, max-file 5), so it
  rotates the same way. Its ``compress`` (default true in docker) is not done: rotated files
  stay plain, which ``compress=true`` given explicitly is refused for.
- ``none``: no log at all; ``logs`` refuses as docker does.

Containers made before LogConfig was recorded keep their CRI-format log (``format`` "cri"), so
one file never mixes two formats.
"""

from __future__ import annotations

from layerbox.errors import InvalidArgument

DRIVERS = ("json-file", "local", "none")
# docker's other drivers: known names, refused with a clear word rather than "no such driver"
_OTHER_DRIVERS = ("syslog", "journald", "gelf", "fluentd", "awslogs", "splunk", "etwlogs",
                  "gcplogs", "logentries")
_OPTIONS = {"json-file": ("max-size", "max-file", "compress"),
            "local": ("max-size", "max-file", "compress"),
            "none": ()}
# json-file options docker has that add attributes to each record: not done here.
_UNSUPPORTED = ("labels", "labels-regex", "env", "env-regex", "tag")
_DECIMAL = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "p": 10**15}


def from_human_size(text: str) -> int:
    """go-units' FromHumanSize (what json-file's max-size uses): "10m" -> 10000000."""
    # its regexp, ^(\d+(\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$, by hand: `re` costs the hot
    # path of `run` 6 ms to import
    s = text.strip()
    i = 0
    while i < len(s) and (s[i].isdigit() or (s[i] == "." and i and s[i - 1].isdigit())):
        i += 1
    number, rest = s[:i], s[i:]
    if rest.startswith(" "):
        rest = rest[1:]
    unit = rest[:1].lower() if rest[:1].lower() in "kmgtp" and rest[:1] else ""
    rest = rest[len(unit):]
    if rest[:1] in ("i", "I"):
        rest = rest[1:]
    if rest in ("b", "B"):
        rest = ""
    if (not number or not number[0].isdigit() or number.endswith(".") or rest
            or not number.isascii()):
        raise InvalidArgument(f"invalid size: '{text}'")
    value = float(number) if number.count(".") <= 1 else float(number.rsplit(".", 1)[0])
    return int(value * _DECIMAL[unit])


def parse_log_opts(values) -> dict:
    """``--log-opt k=v`` (repeatable) or the SDK's ``log_config["Config"]`` dict."""
    if isinstance(values, dict):
        return {str(k): str(v) for k, v in values.items()}
    out = {}
    for v in values or ():
        k, eq, val = str(v).partition("=")
        if not eq or not k:
            raise InvalidArgument(f"invalid argument \"{v}\" for \"--log-opt\" flag: invalid key "
                                  f"value pair format in log options: {v}")
        out[k] = val
    return out


def log_config(driver, opts) -> dict:
    """HostConfig.LogConfig {"Type", "Config"}, checked; docker's default is json-file."""
    driver = driver or "json-file"
    config = parse_log_opts(opts)
    if driver in _OTHER_DRIVERS:
        raise InvalidArgument(f"log driver {driver} is not supported by layerbox (json-file, local "
                              "and none are)")
    if driver not in DRIVERS:
        raise InvalidArgument(f"logger: no log driver named '{driver}' is registered")
    for k, v in config.items():
        if k in _UNSUPPORTED and driver != "none":
            raise InvalidArgument(f"log-opt {k} is not supported by layerbox's {driver} log driver")
        if k not in _OPTIONS[driver]:
            raise InvalidArgument(f"unknown log opt '{k}' for {driver} log driver")
    if "max-size" in config and from_human_size(config["max-size"]) <= 0:
        raise InvalidArgument("max-size must be a positive number")
    if "max-file" in config:
        try:
            n = int(config["max-file"])
        except ValueError:
            raise InvalidArgument(f"invalid max-file: '{config['max-file']}'") from None
        if n < 1:
            raise InvalidArgument("max-file cannot be less than 1")
    if "compress" in config:
        if config["compress"] not in ("true", "false", "1", "0", "t", "f", "TRUE", "FALSE",
                                      "True", "False", "T", "F"):
            raise InvalidArgument(f"error parsing compress option: invalid syntax: "
                                  f"'{config['compress']}'")
        if config["compress"].lower() in ("true", "1", "t"):
            raise InvalidArgument("log-opt compress=true is not supported by layerbox (rotated log "
                                  "files are kept uncompressed)")
    return {"Type": driver, "Config": config}


def monitor_part(config: dict) -> dict:
    """The monitor's log settings: {"log_format", "log_max_size", "log_max_file"}."""
    lc = config["HostConfig"].get("LogConfig")
    if not lc:
        return {"log_format": "cri"}  # a container made before LogConfig: its format stays
    opts = lc.get("Config") or {}
    local = lc.get("Type") == "local"
    size = opts.get("max-size") or ("20m" if local else "")
    return {"log_format": "json",
            "log_max_size": from_human_size(size) if size else 0,
            "log_max_file": int(opts.get("max-file") or (5 if local else 1))}


def readable(config: dict) -> bool:
    lc = config["HostConfig"].get("LogConfig") or {}
    return lc.get("Type") != "none"
