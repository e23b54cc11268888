"""Printing like docker: tab-aligned tables and --format templates.

Tables are Go's tabwriter as docker's formatter sets it up (minimum cell width 10, padding 3).
Templates are Go's text/template (`layerbox.cli.gotemplate`, imported only when a --format is
given: `ps` is on the hot path). What the commands print with a --format follows docker's
formatter (cli/command/formatter): `table` adds a header row rendered from the same template,
`json` prints each row as one JSON object, `\\t` and `\\n` in the format are a tab and a newline.
"""

from __future__ import annotations

import sys


def _tabwriter(lines: list[list[str]], minwidth: int = 10, padding: int = 3) -> str:
    """Go's text/tabwriter (no flags): each cell but a line's last is a column cell; a column
    is as wide as its widest cell plus the padding (at least minwidth), over each block of
    consecutive lines that have that column."""
    if lines and lines[0] and all(len(cells) == len(lines[0]) for cells in lines):
        # Every line has every column (docker's tables): one block per column, as wide as its
        # widest cell plus the padding. (ps -a over 10,000 rows: the general walk below, per
        # line and column, was most of the printing.)
        ws = [max(minwidth, max(map(len, col)) + padding) for col in zip(*lines)][:-1]
        return "".join("".join(c.ljust(w) for c, w in zip(cells, ws)) + cells[-1] + "\n"
                       for cells in lines)
    widths: list[list[int]] = [[0] * max(len(cells) - 1, 0) for cells in lines]

    def fmt(line0: int, line1: int, col: int) -> None:
        this = line0
        while this < line1:
            if col >= len(lines[this]) - 1:
                this += 1
                continue
            start = this
            width = minwidth
            while this < line1 and col < len(lines[this]) - 1:
                width = max(width, len(lines[this][col]) + padding)
                this += 1
            for ln in range(start, this):
                widths[ln][col] = width
            fmt(start, this, col + 1)

    fmt(0, len(lines), 0)
    out = []
    for cells, ws in zip(lines, widths):
        out.append("".join(c.ljust(w) for c, w in zip(cells, ws)) + (cells[-1] if cells else ""))
    return "\n".join(out) + "\n"


def table(headers: list[str], rows: list[list[str]], out=None) -> None:
    """docker's table layout (its formatter's tabwriter)."""
    out = out or sys.stdout
    out.write(_tabwriter([list(headers)] + [list(r) for r in rows]))


def render(fmt: str, objects: list, headers: dict | None = None, out=None,
           default_table: str | None = None, type_name: str | None = None,
           methods=None) -> None:
    """Prints rows with a --format value, as docker's formatter does.

    ``headers`` maps field names to column titles (the header row of a ``table`` format);
    ``default_table`` is what a bare ``table`` means (docker's default columns). With a
    ``type_name`` each row is a typed context (a field it lacks is Go's "can't evaluate field
    X in type T") and ``methods(row)`` gives its methods (``.Label "key"``); without one a row
    is a map."""
    from layerbox.cli import gotemplate as gt

    out = out or sys.stdout
    headers = headers or {}
    if fmt == "json":
        for o in objects:
            out.write(gt.to_json({k: o[k] for k in sorted(o) if not k.startswith("_")}) + "\n")
        return
    is_table = fmt.startswith("table")
    body = fmt[5:] if is_table else fmt
    body = body.strip(" ")
    if is_table and not body:
        body = default_table or "\\t".join("{{.%s}}" % k for k in headers)
    body = body.replace("\\t", "\t").replace("\\n", "\n")
    tmpl = _parse(gt, body)

    def ctx(o):
        fields = {k: v for k, v in o.items() if not k.startswith("_")}
        if type_name is None:
            return fields
        return gt.Struct(fields, type_name, methods(o) if methods else None)

    text = []
    try:
        for o in objects:
            text.append(tmpl.execute(ctx(o)) + "\n")
        if is_table and not objects and type_name:
            # No row to run it on: a field no row can have is still an error, as it would
            # be with one (docker prints the header alone).
            probe = dict.fromkeys(headers, "")
            tmpl.execute(gt.Struct(probe, type_name, methods(_Empty()) if methods else None))
    except gt.TemplateError as e:
        raise gt.TemplateError(f"template parsing error: {e}") from None
    if not is_table:
        out.write("".join(text))
        return
    head = gt.Struct(dict(headers), "header", {"Label": _label_header})
    try:
        hline = tmpl.execute(head, header=True)
    except gt.TemplateError:
        hline = ""  # docker ignores a header that does not render
    lines = [hline.split("\t")] + [t[:-1].split("\t") for t in "".join(text).splitlines(True)]
    out.write(_tabwriter(lines))


class _Empty(dict):
    """A row with nothing in it, for the methods of the probe run."""

    def __missing__(self, key):
        return _Empty()

    def get(self, key, default=None):
        return default


def _label_header(name: str) -> str:
    """The title docker gives a `{{.Label "com.example.some-key"}}` column: "SOME KEY"."""
    return name.split(".")[-1].replace("-", " ").replace("_", " ").upper()


def _parse(gt, body: str, missingkey_error: bool = False):
    try:
        return gt.Template(body, missingkey_error)
    except gt.TemplateError as e:
        raise gt.TemplateError(f"template parsing error: {e}") from None


def render_one(fmt: str, doc, out=None, missingkey_error: bool = False) -> None:
    """`inspect -f`, `version --format`, `info --format`: the template as given (no `\\t`
    rewriting, no table), run on one document, and a newline."""
    from layerbox.cli import gotemplate as gt

    out = out or sys.stdout
    if fmt == "json":
        out.write(gt.to_json(doc) + "\n")
        return
    tmpl = _parse(gt, fmt, missingkey_error)
    try:
        text = tmpl.execute(doc)
    except gt.TemplateError as e:
        raise gt.TemplateError(f"Template parsing error: {e}") from None
    out.write(text + "\n")


def print_inspected(docs: list, fmt: str | None, kinds=None) -> None:
    """What every `inspect` prints: the documents through `--format`, else docker's indented
    JSON array. ``kinds`` ("container", "image", ...: one, or one per document) says which of
    docker's Go types a template sees (layerbox.dockershape.TEMPLATE_TYPES): docker runs an
    inspect template on its typed structs, then, for a field they lack, on the raw JSON with
    missingkey=error; that is what this does, with typed nils for nulls."""
    if fmt:
        from layerbox.cli import gotemplate as gt
        from layerbox.dockershape import TEMPLATE_TYPES

        if kinds is None or isinstance(kinds, str):
            kinds = [kinds] * len(docs)
        for doc, kind in zip(docs, kinds):
            render_one(fmt, gt.typed(doc, TEMPLATE_TYPES.get(kind)), missingkey_error=True)
        return
    import json

    sys.stdout.write(json.dumps(docs, indent=4) + "\n")
