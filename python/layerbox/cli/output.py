"""Printing like docker: tab-aligned tables and --format templates.

Templates cover the Go-template subset people use with docker: ``{{.Field}}``, nested
``{{.A.B}}``, ``{{json .Field}}`` / ``{{json .}}``, ``{{index .Map "key"}}``, ``{{.Label "k"}}``,
``{{lower ...}}``/``{{upper ...}}``, ``{{range .List}}...{{end}}`` with ``{{.}}`` inside,
``{{if .Field}}...{{else}}...{{end}}``, a leading ``table`` for a header row, and ``json`` on
its own for one JSON object per line. Anything else is an error naming the template.
"""

from __future__ import annotations

import sys

from layerbox import _jsonfast
from layerbox.errors import InvalidArgument


def table(headers: list[str], rows: list[list[str]], out=None) -> None:
    """docker's tabwriter layout: columns padded to their widest cell plus three spaces."""
    out = out or sys.stdout
    cols = len(headers)
    widths = [len(h) for h in headers]
    for r in rows:
        for i in range(cols - 1):
            widths[i] = max(widths[i], len(r[i]))
    lines = []
    for r in [headers, *rows]:
        cells = [r[i].ljust(widths[i] + 3) for i in range(cols - 1)] + [r[cols - 1]]
        lines.append("".join(cells).rstrip())
    out.write("\n".join(lines) + "\n")


# -- templates -------------------------------------------------------------------------------

def _tokens(tmpl: str):
    i = 0
    while i < len(tmpl):
        j = tmpl.find("{{", i)
        if j < 0:
            yield ("text", tmpl[i:])
            return
        if j > i:
            yield ("text", tmpl[i:j])
        k = tmpl.find("}}", j)
        if k < 0:
            raise InvalidArgument(f"template parsing error: unclosed action in {tmpl!r}")
        action = tmpl[j + 2:k].strip()
        if action.startswith("-"):
            action = action[1:].strip()
        if action.endswith("-"):
            action = action[:-1].strip()
        yield ("action", action)
        i = k + 2


def _split_args(s: str) -> list[str]:
    out, cur, quote = [], "", ""
    for ch in s:
        if quote:
            cur += ch
            if ch == quote:
                quote = ""
        elif ch in "\"'`":
            quote = ch
            cur += ch
        elif ch == " ":
            if cur:
                out.append(cur)
                cur = ""
        else:
            cur += ch
    if cur:
        out.append(cur)
    return out


class _Template:
    def __init__(self, tmpl: str):
        self.src = tmpl
        self.nodes, rest = self._parse(list(_tokens(tmpl)), 0, ())
        if rest is not None:
            raise InvalidArgument(f"template parsing error: unexpected {{{{end}}}} in {tmpl!r}")

    def _parse(self, toks, i, stops):
        nodes = []
        while i < len(toks):
            kind, val = toks[i]
            if kind == "text":
                nodes.append(("text", val))
                i += 1
                continue
            word = val.split(" ", 1)[0]
            if word in stops:
                return nodes, (i, word)
            if word in ("range", "if", "with"):
                body, stop = self._parse(toks, i + 1, ("end", "else"))
                if stop is None:
                    raise InvalidArgument(f"template parsing error: missing {{{{end}}}} in {self.src!r}")
                j, w = stop
                other = []
                if w == "else":
                    other, stop = self._parse(toks, j + 1, ("end",))
                    if stop is None:
                        raise InvalidArgument(f"template parsing error: missing {{{{end}}}} in {self.src!r}")
                    j = stop[0]
                nodes.append((word, val.split(" ", 1)[1] if " " in val else "", body, other))
                i = j + 1
                continue
            nodes.append(("expr", val))
            i += 1
        if stops:
            return nodes, None
        return nodes, None

    def render(self, obj) -> str:
        return self._render(self.nodes, obj)

    def _render(self, nodes, dot) -> str:
        out = []
        for n in nodes:
            if n[0] == "text":
                out.append(n[1])
            elif n[0] == "expr":
                v = self._eval(n[1], dot)
                out.append(_to_str(v))
            elif n[0] == "range":
                seq = self._eval(n[1], dot)
                items = list(seq.items()) if isinstance(seq, dict) else (seq or [])
                if items:
                    for it in items:
                        out.append(self._render(n[2], it[1] if isinstance(seq, dict) else it))
                else:
                    out.append(self._render(n[3], dot))
            elif n[0] == "if":
                out.append(self._render(n[2] if self._eval(n[1], dot) else n[3], dot))
            elif n[0] == "with":
                v = self._eval(n[1], dot)
                out.append(self._render(n[2], v) if v else self._render(n[3], dot))
        return "".join(out)

    def _eval(self, expr: str, dot):
        if "|" in expr:
            parts = [p.strip() for p in expr.split("|")]
            v = self._eval(parts[0], dot)
            for fn in parts[1:]:
                v = self._call(_split_args(fn), dot, piped=v)
            return v
        args = _split_args(expr)
        if not args:
            raise InvalidArgument(f"template: empty action in {self.src!r}")
        if len(args) == 1 and args[0].startswith(".") or args[0] == ".":
            if len(args) == 1:
                return _field(dot, args[0], self.src)
            # a method-like field with arguments: {{.Label "com.example"}}
            base = _field(dot, args[0], self.src)
            if callable(base):
                return base(*[_literal(a, dot, self.src) for a in args[1:]])
            raise InvalidArgument(f"template: {args[0]} is not a method in {self.src!r}")
        return self._call(args, dot)

    def _call(self, args, dot, piped=None):
        fn = args[0]
        vals = [_literal(a, dot, self.src) for a in args[1:]]
        if piped is not None:
            vals.append(piped)
        if fn == "json":
            return _jsonfast.dumps(vals[0] if vals else dot)
        if fn == "index":
            v = vals[0]
            for k in vals[1:]:
                v = v.get(k) if isinstance(v, dict) else (v[int(k)] if v is not None else None)
            return v
        if fn == "lower":
            return _to_str(vals[0]).lower()
        if fn == "upper":
            return _to_str(vals[0]).upper()
        if fn == "join":
            return str(vals[1]).join(_to_str(x) for x in (vals[0] or []))
        if fn == "len":
            return len(vals[0] or [])
        if fn == "printf":
            return vals[0] % tuple(vals[1:]) if len(vals) > 1 else vals[0]
        if fn == "println":
            return " ".join(_to_str(v) for v in vals) + "\n"
        raise InvalidArgument(f'template: function "{fn}" not defined in {self.src!r}')


def _literal(a: str, dot, src):
    if a[:1] in "\"'`" and a[-1:] == a[:1]:
        return a[1:-1]
    if a.startswith("."):
        return _field(dot, a, src)
    if a.lstrip("-").isdigit():
        return int(a)
    raise InvalidArgument(f"template: cannot evaluate {a!r} in {src!r}")


def _field(obj, path: str, src: str):
    if path == ".":
        return obj
    v = obj
    for part in path.split(".")[1:]:
        if isinstance(v, dict):
            if part not in v:
                raise InvalidArgument(f"template: {src}: can't evaluate field {part}")
            v = v[part]
        elif hasattr(v, part):
            v = getattr(v, part)
        else:
            raise InvalidArgument(f"template: {src}: can't evaluate field {part}")
    return v


def _to_str(v) -> str:
    if v is None:
        return "<no value>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dict):
        return "map[" + " ".join(f"{k}:{_to_str(x)}" for k, x in sorted(v.items())) + "]"
    if isinstance(v, (list, tuple)):
        return "[" + " ".join(_to_str(x) for x in v) + "]"
    return str(v)


def render(fmt: str, objects: list, headers: dict | None = None, out=None) -> None:
    """Prints objects with a --format value. ``headers`` maps field names to column titles
    for ``table`` templates."""
    out = out or sys.stdout
    if fmt == "json":
        for o in objects:
            out.write(_jsonfast.dumps(o) + "\n")
        return
    fmt = fmt.replace("\\t", "\t").replace("\\n", "\n")
    if fmt.startswith("table"):
        body = fmt[5:].lstrip() or "\t".join("{{.%s}}" % k for k in (headers or {}))
        t = _Template(body)
        head = body
        for k, title in (headers or {}).items():
            head = head.replace("{{.%s}}" % k, title).replace("{{ .%s }}" % k, title)
        if headers and not objects:
            # Nothing to render the rows with: a field that no row can have is still an error.
            for kind, action in _tokens(body):
                if kind == "action" and action.startswith(".") and " " not in action and "|" not in action:
                    field = action[1:].split(".", 1)[0]
                    if field and field not in headers:
                        raise InvalidArgument(f"template: {body}: can't evaluate field {field}")
        rows = [t.render(o).split("\t") for o in objects]
        hrow = head.split("\t")
        width = max([len(hrow)] + [len(r) for r in rows])
        table(hrow + [""] * (width - len(hrow)), [r + [""] * (width - len(r)) for r in rows], out)
        return
    t = _Template(fmt)
    for o in objects:
        out.write(t.render(o) + "\n")


def print_inspected(docs: list, fmt: str | None) -> None:
    """What every `inspect` prints: the documents through `--format`, else docker's indented
    JSON array."""
    if fmt:
        render(fmt, docs)
        return
    import json

    sys.stdout.write(json.dumps(docs, indent=4) + "\n")
