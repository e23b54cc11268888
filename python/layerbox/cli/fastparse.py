"""Parsing the hot verbs without click, from the table click's definitions generate (_verb_table.py).

It follows click's parser rules (long options with "=" or a separate value, clustered short
flags, "-eK=V", "--", options stopping at the first argument where a command disallows
interspersed arguments, multiple=True accumulating, int/float/choice conversion, an optional
value: ``-p`` alone, or before something that looks like an option, takes the option's
``optional_value`` as click's flag_value). Whenever it
meets something it does not handle exactly as click would (--help, an unknown option, a
missing value, a bad number), it returns None and the caller hands the whole command line to
click, so errors and help always come from the one definition.
"""

from __future__ import annotations

FALLBACK = None


def _convert(p: dict, val: str):
    t = p.get("type", "string")
    if t == "int":
        try:
            return int(val, 10)
        except ValueError:
            return FALLBACK
    if t == "float":
        try:
            return float(val)
        except ValueError:
            return FALLBACK
    if t == "choice":
        return val if val in p["choices"] else FALLBACK
    if t == "bool":  # click's BOOL
        v = val.strip().lower()
        if v in ("1", "true", "t", "yes", "y", "on"):
            return True
        if v in ("0", "false", "f", "no", "n", "off"):
            return False
        return FALLBACK
    return val


def parse(spec: dict, args: list):
    """Returns the keyword arguments for the command's callback, or None to use click."""
    longs: dict = {}
    shorts: dict = {}
    for p in spec["params"]:
        if p["kind"] != "option":
            continue
        for o in p["opts"]:
            (longs if o.startswith("--") else shorts)[o] = (p, True)
        for o in p.get("secondary", ()):
            (longs if o.startswith("--") else shorts)[o] = (p, False)
    values: dict = {}
    positional: list = []
    rargs = list(args)
    interspersed = spec.get("interspersed", True)

    def store(p, val, on=True):
        if p["flag"]:
            values[p["name"]] = p.get("flag_value", True) if on else (not p.get("flag_value", True))
            return True
        v = _convert(p, val)
        if v is FALLBACK:
            return False
        if p["multiple"]:
            values.setdefault(p["name"], []).append(v)
        else:
            values[p["name"]] = v
        return True

    def take_value(p):
        """An option's value: the next argument (one attached to the option was put back as
        the next), or the optional value instead when there is none or it looks like an
        option, as click's _get_value_from_state takes it."""
        if "optional_value" in p and (not rargs or (rargs[0][:1] == "-" and len(rargs[0]) > 1)):
            return p["optional_value"]
        if not rargs:
            return FALLBACK
        return rargs.pop(0)

    while rargs:
        arg = rargs.pop(0)
        if arg == "--":
            positional.extend(rargs)
            break
        if arg.startswith("--") and len(arg) > 2:
            name, eq, val = arg.partition("=")
            hit = longs.get(name)
            if hit is None:
                return FALLBACK
            p, on = hit
            if p["flag"]:
                if eq:
                    return FALLBACK
                store(p, None, on)
                continue
            if eq:
                rargs.insert(0, val)  # as click: "--pause=-x" with an optional value is --pause, -x
            val = take_value(p)
            if val is FALLBACK:
                return FALLBACK
            if not store(p, val):
                return FALLBACK
            continue
        if arg.startswith("-") and len(arg) > 1:
            j = 1
            while j < len(arg):
                hit = shorts.get("-" + arg[j])
                if hit is None:
                    return FALLBACK
                p, on = hit
                if p["flag"]:
                    store(p, None, on)
                    j += 1
                    continue
                if j + 1 < len(arg):
                    # click puts what follows back as the next argument, then takes the value
                    # (so "-p-x" with an optional value is -p alone, then -x)
                    rargs.insert(0, arg[j + 1:])
                val = take_value(p)
                if val is FALLBACK:
                    return FALLBACK
                if not store(p, val):
                    return FALLBACK
                break
            continue
        positional.append(arg)
        if not interspersed:
            positional.extend(rargs)
            break

    for p in spec["params"]:
        if p["kind"] == "option":
            if p["name"] not in values:
                d = p.get("default")
                values[p["name"]] = tuple(d or ()) if p["multiple"] else d
            elif p["multiple"]:
                values[p["name"]] = tuple(values[p["name"]])
            continue
        if p["nargs"] == -1:
            if p["required"] and not positional:
                return FALLBACK
            vals = []
            for v in positional:
                cv = _convert(p, v)
                if cv is FALLBACK:
                    return FALLBACK
                vals.append(cv)
            values[p["name"]] = tuple(vals)
            positional = []
        else:
            if not positional:
                if p["required"]:
                    return FALLBACK
                values[p["name"]] = p.get("default")
                continue
            v = _convert(p, positional.pop(0))
            if v is FALLBACK:
                return FALLBACK
            values[p["name"]] = v
    if positional:
        return FALLBACK
    return values
