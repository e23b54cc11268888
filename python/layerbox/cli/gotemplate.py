"""Go's text/template, as docker's `--format` runs it: one engine for every command.

Why our own: no Python package keeps Go's semantics and is kept up. PyPI has `go-template`
(2019, Python <= 3.7, builds Go's library with a Go toolchain), `py-go-template` and
`cognihub-pygotemplate` (CGo wrappers: a Go compiler at install time and the Go runtime loaded
into every formatted command) and `gotpl` (pure Python but 0.1.0, one release, its own
compatibility table "partial"). What docker's users write is a small, fixed language, so it is
here in one module, checked against Go's outputs by tests/unit/test_gotemplate.py.

What it does, as Go 1.20's text/template with docker's functions (cli/templates):

- actions ``{{pipeline}}`` with ``{{-``/``-}}`` trimming and ``{{/* comments */}}``;
  ``if``/``else if``/``else``/``end``, ``range`` (``$v :=``, ``$k, $v :=``, maps in key
  order, ``break``/``continue``), ``with``; variables (``$x := ...``, ``$x = ...``, ``$``);
- pipelines ``a | b c`` (the value goes last), parentheses, field chains on anything
  (``.A.B``, ``$v.A``, ``(index .M "k").A``), methods with arguments (``.Label "k"``);
- Go's functions: and, or, not, len, index, slice, eq, ne, lt, le, gt, ge, print, printf,
  println, html, js, urlquery; docker's: json, split, join, title, lower, upper, pad, truncate;
- Go's errors, word for word where a script may match them: ``template: :1:2: executing ""
  at <.Nope>: can't evaluate field Nope in type ...`` and ``map has no entry for key``.

Values: dicts are Go maps (or, wrapped in `Struct`, docker's typed contexts with a type name
and methods), lists are slices, None is a nil interface (``<no value>``); `Nil` stands for a
typed nil where docker's document has one (a nil slice prints ``[]``, a nil map ``map[]``, a
nil pointer ``<nil>``), which `layerbox.dockershape` puts where docker's types say.
"""

from __future__ import annotations

from layerbox.errors import InvalidArgument
from layerbox._util import go_quote as _quote


class TemplateError(InvalidArgument):
    """A template that does not parse, or fails while it runs: the message is Go's."""


class Nil:
    """A typed nil: how docker's Go structs print an absent slice, map or pointer."""

    __slots__ = ("kind",)

    def __init__(self, kind: str):
        self.kind = kind  # "slice", "map" or "ptr"

    def __repr__(self):
        return f"Nil({self.kind})"


NIL_SLICE, NIL_MAP, NIL_PTR = Nil("slice"), Nil("map"), Nil("ptr")


class OmittedNil(Nil):
    """A struct field the document left out (Go's `omitempty`): nil to the template, and left
    out again by `json`, as encoding/json does (State.Health of a container without one)."""

    __slots__ = ()


class Struct:
    """A typed value: fields (a dict), methods (name -> callable taking the template's
    arguments) and the Go type name its errors show (``*formatter.ContainerContext``)."""

    __slots__ = ("fields", "methods", "type_name")

    def __init__(self, fields: dict, type_name: str, methods: dict | None = None):
        self.fields = fields
        self.methods = methods or {}
        self.type_name = type_name


class GoMap(dict):
    """A Go map where docker's document has one (Labels, Options, ...): in docker inspect's
    typed run a missing key is <no value>, never "map has no entry"; json sorts its keys."""


def typed(v, spec):
    """A document with docker's Go types put in (see layerbox.dockershape.TEMPLATE_TYPES)."""
    if spec is None:
        return v
    if isinstance(spec, str):
        if v is None:
            return Nil(spec)
        if spec == "map" and isinstance(v, dict):
            return GoMap(v)
        return v
    if isinstance(spec, tuple):
        if v is None:
            return NIL_MAP if spec[0] == "mapof" else NIL_SLICE
        if spec[0] == "mapof" and isinstance(v, dict):
            return GoMap({k: typed(x, spec[1]) for k, x in v.items()})
        if spec[0] == "sliceof" and isinstance(v, list):
            return [typed(x, spec[1]) for x in v]
        return v
    if v is None:
        return NIL_PTR
    if isinstance(v, dict):
        out = {k: typed(x, spec.get(k)) for k, x in v.items()}
        for k, kind in spec.items():  # a field JSON leaves out when empty is still in the struct
            if k not in out and isinstance(kind, str):
                out[k] = OmittedNil(kind)
        return out
    return v


class _Missing:
    """No value at all (Go's invalid reflect.Value): prints as <no value>."""

    def __repr__(self):
        return "<no value>"


MISSING = _Missing()


# -- lexing ------------------------------------------------------------------------------------

_SPACE = " \t\r\n"
_KEYWORDS = {"if", "else", "end", "range", "with", "define", "template", "block", "break",
             "continue", "nil", "true", "false"}


def _is_alnum(ch: str) -> bool:
    return ch == "_" or ch.isalnum()


class _Tok:
    __slots__ = ("kind", "val", "pos")

    def __init__(self, kind, val, pos):
        self.kind, self.val, self.pos = kind, val, pos

    def __repr__(self):
        return f"{self.kind}:{self.val!r}@{self.pos}"


class _Lexer:
    """Splits a template into text and the tokens of its actions, as Go's lexer does."""

    def __init__(self, src: str):
        self.src = src
        self.toks: list[_Tok] = []

    def line(self, pos: int) -> int:
        return 1 + self.src.count("\n", 0, pos)

    def err(self, pos: int, msg: str):
        raise TemplateError(f"template: :{self.line(pos)}: {msg}")

    def run(self) -> list[_Tok]:
        src, i, n = self.src, 0, len(self.src)
        trim_next = False
        while i < n:
            j = src.find("{{", i)
            text = src[i:] if j < 0 else src[i:j]
            if j >= 0 and src.startswith("{{-", j) and src[j + 3:j + 4] in tuple(_SPACE):
                text = text.rstrip(_SPACE)
            if trim_next:
                text = text.lstrip(_SPACE)
                trim_next = False
            if text:
                self.toks.append(_Tok("text", text, i))
            if j < 0:
                break
            k = j + 2
            if src[k:k + 1] == "-" and src[k + 1:k + 2] in tuple(_SPACE):
                k += 2
            # a comment: {{/* ... */}}, nothing else in the action
            while k < n and src[k] in _SPACE:
                k += 1
            if src.startswith("/*", k):
                end = src.find("*/", k + 2)
                if end < 0:
                    self.err(k, "unclosed comment")
                m = end + 2
                if src.startswith(" -}}", m):
                    trim_next, m = True, m + 4
                elif src.startswith("}}", m):
                    m += 2
                else:
                    self.err(m, "comment ends before closing delimiter")
                i = m
                continue
            self.toks.append(_Tok("open", "{{", j))
            i, trim_next = self._action(k)
        self.toks.append(_Tok("eof", "", n))
        return self.toks

    def _action(self, i: int):
        src, n = self.src, len(self.src)
        depth = 0
        while True:
            if i >= n:
                self.err(i, "unclosed action")
            ch = src[i]
            if ch in _SPACE:
                m = i
                while m < n and src[m] in _SPACE:
                    m += 1
                if src.startswith("-}}", m):
                    if depth:
                        self.err(m, "unclosed left paren")
                    self.toks.append(_Tok("close", "}}", m))
                    return m + 3, True
                if src.startswith("}}", m) or m >= n:
                    i = m
                    continue
                self.toks.append(_Tok("space", " ", i))
                i = m
                continue
            if src.startswith("}}", i):
                if depth:
                    self.err(i, "unclosed left paren")
                self.toks.append(_Tok("close", "}}", i))
                return i + 2, False
            if ch == "|":
                self.toks.append(_Tok("pipe", "|", i))
                i += 1
            elif ch == "(":
                depth += 1
                self.toks.append(_Tok("lparen", "(", i))
                i += 1
            elif ch == ")":
                depth -= 1
                if depth < 0:
                    self.err(i, f"unexpected right paren {ch!r}")
                self.toks.append(_Tok("rparen", ")", i))
                i += 1
            elif ch == ",":
                self.toks.append(_Tok("comma", ",", i))
                i += 1
            elif src.startswith(":=", i):
                self.toks.append(_Tok("declare", ":=", i))
                i += 2
            elif ch == "=":
                self.toks.append(_Tok("assign", "=", i))
                i += 1
            elif ch == '"':
                i = self._quoted(i)
            elif ch == "`":
                end = src.find("`", i + 1)
                if end < 0:
                    self.err(i, "unterminated raw quoted string")
                self.toks.append(_Tok("string", src[i + 1:end], i))
                i = end + 1
            elif ch == "'":
                end = i + 1
                while end < n and src[end] != "'":
                    end += 2 if src[end] == "\\" else 1
                if end >= n:
                    self.err(i, "unterminated character constant")
                self.toks.append(_Tok("number", ord(_unquote(src[i + 1:end], i, self)), i))
                i = end + 1
            elif ch == "$":
                m = i + 1
                while m < n and _is_alnum(src[m]):
                    m += 1
                self.toks.append(_Tok("variable", src[i:m], i))
                i = m
            elif ch == ".":
                if i + 1 < n and src[i + 1].isdigit():
                    i = self._number(i)
                    continue
                m = i + 1
                while m < n and _is_alnum(src[m]):
                    m += 1
                self.toks.append(_Tok("field" if m > i + 1 else "dot", src[i:m], i))
                i = m
            elif ch.isdigit() or ch in "+-" and i + 1 < n and (src[i + 1].isdigit() or src[i + 1] == "."):
                i = self._number(i)
            elif _is_alnum(ch):
                m = i
                while m < n and _is_alnum(src[m]):
                    m += 1
                word = src[i:m]
                if word in ("true", "false"):
                    self.toks.append(_Tok("bool", word == "true", i))
                elif word == "nil":
                    self.toks.append(_Tok("nil", None, i))
                elif word in _KEYWORDS:
                    self.toks.append(_Tok("keyword", word, i))
                else:
                    self.toks.append(_Tok("identifier", word, i))
                i = m
            else:
                self.err(i, f"unexpected {ch!r} in command")

    def _quoted(self, i: int) -> int:
        src, n = self.src, len(self.src)
        end = i + 1
        while end < n and src[end] != '"':
            if src[end] == "\n":
                self.err(i, "unterminated quoted string")
            end += 2 if src[end] == "\\" else 1
        if end >= n:
            self.err(i, "unterminated quoted string")
        self.toks.append(_Tok("string", _unquote(src[i + 1:end], i, self), i))
        return end + 1

    def _number(self, i: int) -> int:
        src, n = self.src, len(self.src)
        m = i + 1
        while m < n and (_is_alnum(src[m]) or src[m] in ".+-" and src[m - 1] in "eEpP" or src[m] == "."):
            m += 1
        text = src[i:m]
        try:
            val: object = int(text.replace("_", ""), 0)
        except ValueError:
            try:
                val = float(text.replace("_", ""))
            except ValueError:
                self.err(i, f"bad number syntax: {text!r}")
        self.toks.append(_Tok("number", val, i))
        return m


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "a": "\a",
            "b": "\b", "f": "\f", "v": "\v", "0": "\0"}


def _unquote(body: str, pos: int, lexer: _Lexer) -> str:
    out, i = [], 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        nxt = body[i + 1:i + 2]
        if nxt in ("x", "u", "U"):
            width = {"x": 2, "u": 4, "U": 8}[nxt]
            try:
                out.append(chr(int(body[i + 2:i + 2 + width], 16)))
            except ValueError:
                lexer.err(pos, "invalid syntax")
            i += 2 + width
        elif nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        else:
            lexer.err(pos, "invalid syntax")
    return "".join(out)


# -- parsing -----------------------------------------------------------------------------------
# Nodes are tuples: ("text", s) ("action", pipe) ("if"|"with"|"range", pipe, body, else, pos)
# ("break",) ("continue",). A pipe is (decl_names, is_assign, [cmd...], pos); a cmd is
# ([arg...], pos); an arg is ("field", [names], pos) ("var", name, [names], pos) ("dot", pos)
# ("lit", value, pos) ("ident", name, pos) ("pipe", pipe, [names], pos).


class _Parser:
    def __init__(self, src: str, funcs: dict):
        self.src = src
        self.lex = _Lexer(src)
        self.toks = self.lex.run()
        self.i = 0
        self.funcs = funcs
        self.vars = [["$"]]
        self.range_depth = 0

    def err(self, tok: _Tok, msg: str):
        raise TemplateError(f"template: :{self.lex.line(tok.pos)}: {msg}")

    def peek(self, skip_space=True) -> _Tok:
        j = self.i
        while skip_space and self.toks[j].kind == "space":
            j += 1
        return self.toks[j]

    def next(self, skip_space=True) -> _Tok:
        while skip_space and self.toks[self.i].kind == "space":
            self.i += 1
        t = self.toks[self.i]
        self.i += 1
        return t

    def parse(self) -> list:
        nodes, stop = self.list_(top=True)
        return nodes

    def list_(self, top=False):
        """Nodes up to {{end}} / {{else}} (returned as the stop word) or the end."""
        nodes = []
        while True:
            t = self.next(skip_space=False)
            if t.kind == "eof":
                if not top:
                    self.err(t, "unexpected EOF")
                return nodes, None
            if t.kind == "text":
                nodes.append(("text", t.val))
                continue
            # t is "open"
            k = self.peek()
            if k.kind == "keyword" and k.val in ("end", "else"):
                self.next()
                if top:
                    self.err(k, f"unexpected {{{{{k.val}}}}}")
                return nodes, k
            if k.kind == "keyword" and k.val in ("if", "with", "range"):
                self.next()
                nodes.append(self.control(k))
                continue
            if k.kind == "keyword" and k.val in ("break", "continue"):
                self.next()
                if not self.range_depth:
                    self.err(k, f"{{{{{k.val}}}}} outside {{{{range}}}}")
                self.expect_close(k.val)
                nodes.append((k.val,))
                continue
            if k.kind == "keyword" and k.val in ("define", "template", "block"):
                self.err(k, f"{{{{{k.val}}}}} is not supported in --format templates")
            pipe = self.pipeline("command", allow_decl=True)
            nodes.append(("action", pipe))

    def expect_close(self, ctx: str):
        t = self.next()
        if t.kind != "close":
            self.err(t, f"unexpected {self.describe(t)} in {ctx}")

    def describe(self, t: _Tok) -> str:
        if t.kind == "close":
            return '"}}"'
        if t.kind == "string":
            return f'"{t.val}"'
        return f"<{t.val}>" if t.kind in ("field", "variable", "identifier") else f'"{t.val}"'

    def control(self, kw: _Tok):
        mark = len(self.vars)
        self.vars.append(list(self.vars[-1]))
        pipe = self.pipeline(kw.val, allow_decl=True, range_decl=kw.val == "range")
        if kw.val == "range":
            self.range_depth += 1
        body, stop = self.list_()
        if kw.val == "range":
            self.range_depth -= 1
        other: list = []
        if stop.val == "else":
            nxt = self.peek()
            if nxt.kind == "keyword" and nxt.val in ("if", "with") and kw.val in ("if", "with"):
                # {{else if ...}}: an if nested in the else branch, sharing our {{end}}
                self.next()
                other = [self.control(nxt)]
            else:
                self.expect_close("else")
                other, stop = self.list_()
                if stop.val != "end":
                    self.err(stop, "expected end; found {{else}}")
                self.expect_close("end")
        else:
            self.expect_close("end")
        del self.vars[mark:]
        return (kw.val, pipe, body, other, kw.pos)

    def pipeline(self, ctx: str, allow_decl=False, range_decl=False):
        start = self.peek()
        decl: list[str] = []
        is_assign = False
        # $x := / $x = / $k, $v :=
        save = self.i
        t = self.next()
        if t.kind == "variable" and allow_decl:
            names = [t.val]
            t2 = self.next()
            if t2.kind == "comma" and range_decl:
                t3 = self.next()
                if t3.kind != "variable":
                    self.err(t3, "range can only initialize variables")
                names.append(t3.val)
                t2 = self.next()
            if t2.kind in ("declare", "assign"):
                decl, is_assign = names, t2.kind == "assign"
                if is_assign:
                    for nm in names:
                        if not any(nm in scope for scope in self.vars[-1:]):
                            self.err(t, f"undefined variable \"{nm}\"")
                else:
                    self.vars[-1].extend(names)
            else:
                self.i = save
        else:
            self.i = save
        cmds = []
        while True:
            cmd = self.command(ctx)
            cmds.append(cmd)
            t = self.next()
            if t.kind == "pipe":
                continue
            if t.kind == "close" or t.kind == "rparen" and ctx == "parenthesized pipeline":
                if t.kind == "rparen":
                    self.i -= 1
                break
            self.err(t, f"unexpected {self.describe(t)} in {ctx}")
        if not cmds or not cmds[0][0]:
            self.err(start, f"missing value for {ctx}")
        return (decl, is_assign, cmds, start.pos)

    def command(self, ctx: str):
        args = []
        start = self.peek()
        while True:
            t = self.peek()
            if t.kind in ("close", "pipe", "eof") or t.kind == "rparen":
                break
            self.next()
            arg = self.operand(t, ctx)
            args.append(arg)
            nt = self.peek(skip_space=False)
            if nt.kind not in ("space", "close", "pipe", "rparen"):
                self.err(nt, f"unexpected {self.describe(nt)} in operand")
        if not args:
            self.err(start, f"missing value for {ctx}")
        return (args, start.pos)

    def _chain(self) -> list[str]:
        names = []
        while self.toks[self.i].kind == "field":
            names.append(self.toks[self.i].val[1:])
            self.i += 1
        return names

    def operand(self, t: _Tok, ctx: str):
        if t.kind == "field":
            return ("field", [t.val[1:]] + self._chain(), t.pos)
        if t.kind == "variable":
            if not any(t.val in scope for scope in self.vars[-1:]):
                self.err(t, f"undefined variable \"{t.val}\"")
            return ("var", t.val, self._chain(), t.pos)
        if t.kind == "dot":
            if self.toks[self.i].kind == "field":
                self.err(t, "unexpected . after term \".\"")
            return ("dot", t.pos)
        if t.kind in ("string", "number", "bool"):
            return ("lit", t.val, t.pos)
        if t.kind == "nil":
            return ("lit", None, t.pos)
        if t.kind == "identifier":
            if t.val not in self.funcs:
                self.err(t, f'function "{t.val}" not defined')
            return ("ident", t.val, t.pos)
        if t.kind == "lparen":
            pipe = self.pipeline("parenthesized pipeline", allow_decl=True)
            r = self.next()
            if r.kind != "rparen":
                self.err(r, "unclosed left paren")
            return ("pipe", pipe, self._chain(), t.pos)
        if t.kind == "keyword":
            self.err(t, f"unexpected <{t.val}> in {ctx}")
        self.err(t, f"unexpected {self.describe(t)} in {ctx}")


# -- values as Go prints them --------------------------------------------------------------------

def _go_float(f: float) -> str:
    """fmt's %v of a float64 (%g, shortest digits): the %e form when the exponent is below -4
    or from 6 on ("1e+06", "1.234567e+06", "1e-05"): strconv's shortest %g."""
    if f != f:
        return "NaN"
    if f in (float("inf"), float("-inf")):
        return "+Inf" if f > 0 else "-Inf"
    if f == 0:
        return "0"
    from decimal import Decimal

    sign, digits, exp = Decimal(repr(f)).normalize().as_tuple()
    ds = "".join(map(str, digits))
    e10 = len(ds) + exp - 1
    neg = "-" if sign else ""
    if e10 < -4 or e10 >= 6:
        mant = ds[0] + ("." + ds[1:] if len(ds) > 1 else "")
        return f"{neg}{mant}e{'-' if e10 < 0 else '+'}{abs(e10):02d}"
    if exp >= 0:
        return neg + ds + "0" * exp
    point = len(ds) + exp
    if point > 0:
        return neg + ds[:point] + "." + ds[point:]
    return neg + "0." + "0" * -point + ds


def go_str(v, top: bool = True) -> str:
    """What `{{.X}}` prints: fmt's %v of the value."""
    if v is MISSING:
        return "<no value>"
    if v is None:
        return "<no value>" if top else "<nil>"
    if isinstance(v, Nil):
        return {"slice": "[]", "map": "map[]"}.get(v.kind, "<nil>")
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return _go_float(v)
    if isinstance(v, str):
        return v
    if isinstance(v, Struct):
        if "String" in v.methods:  # a fmt.Stringer prints itself
            return v.methods["String"]()
        return "{" + " ".join(go_str(x, False) for x in v.fields.values()) + "}"
    if isinstance(v, dict):
        return "map[" + " ".join(f"{go_str(k, False)}:{go_str(v[k], False)}"
                                 for k in sorted(v, key=_sort_key)) + "]"
    if isinstance(v, (list, tuple)):
        return "[" + " ".join(go_str(x, False) for x in v) + "]"
    return str(v)


def _sort_key(k):
    return (0, k, "") if isinstance(k, (int, float)) and not isinstance(k, bool) else (1, 0, str(k))


def go_type(v) -> str:
    if v is None or v is MISSING:
        return "<nil>"
    if isinstance(v, Struct):
        return v.type_name
    if isinstance(v, Nil):
        return {"slice": "[]interface {}", "map": "map[string]interface {}"}.get(v.kind, "*struct")
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float64"
    if isinstance(v, str):
        return "string"
    if isinstance(v, dict):
        return "map[string]interface {}"
    if isinstance(v, (list, tuple)):
        return "[]interface {}"
    return type(v).__name__


def truth(v) -> bool:
    """Go's truth: the zero value of each kind is false."""
    if v is None or v is MISSING or isinstance(v, Nil):
        return False
    if isinstance(v, Struct):
        return True
    if isinstance(v, (bool, int, float, str, list, tuple, dict)):
        return bool(v)
    return True


def to_json(v) -> str:
    """docker's `json` function: encoding/json without HTML escaping, no trailing newline."""
    import json

    return json.dumps(_plain(v), ensure_ascii=False, separators=(",", ":"))


def _plain(v):
    if v is MISSING or isinstance(v, Nil):
        return None
    if isinstance(v, Struct):  # docker's contexts marshal themselves through a map: sorted
        return {k: _plain(v.fields[k]) for k in sorted(v.fields)}
    if isinstance(v, GoMap):
        return {str(k): _plain(v[k]) for k in sorted(v, key=_sort_key)}
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items() if not isinstance(x, OmittedNil)}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


# -- the functions -------------------------------------------------------------------------------

class _FnError(Exception):
    """A function's own failure: reported as Go's "error calling NAME: ..."."""


def _index(item, *keys):
    v = item
    if v is None or v is MISSING:
        raise _FnError("index of untyped nil")
    for k in keys:
        if isinstance(v, Nil) and v.kind == "map":
            return MISSING
        if isinstance(v, dict):
            v = v.get(k, MISSING) if not isinstance(k, bool) else MISSING
        elif isinstance(v, Struct):
            raise _FnError(f"can't index item of type {v.type_name}")
        elif isinstance(v, (list, tuple, str, Nil)):
            seq = [] if isinstance(v, Nil) else v
            if not isinstance(k, int) or isinstance(k, bool):
                raise _FnError(f"cannot index slice/array with type {go_type(k)}")
            if not 0 <= k < len(seq):
                raise _FnError(f"index out of range: {k}")
            v = seq[k] if not isinstance(seq, str) else ord(seq.encode()[k:k + 1] or b"\0")
        elif v is None or v is MISSING:
            raise _FnError("index of nil pointer")
        else:
            raise _FnError(f"can't index item of type {go_type(v)}")
    return v


def _slice(item, *idx):
    if isinstance(item, Nil):
        item = []
    if not isinstance(item, (list, tuple, str)):
        raise _FnError(f"can't slice item of type {go_type(item)}")
    if len(idx) > 2:
        raise _FnError("too many slice indexes")
    lo = idx[0] if idx else 0
    hi = idx[1] if len(idx) > 1 else len(item)
    if not 0 <= lo <= hi <= len(item):
        raise _FnError(f"index out of range: {hi if hi > len(item) else lo}")
    return item[lo:hi]


def _len(item):
    if item is None or item is MISSING:
        raise _FnError("len of nil pointer" if item is None else "len of untyped nil")
    if isinstance(item, Nil):
        if item.kind == "ptr":
            raise _FnError("len of nil pointer")
        return 0
    if isinstance(item, str):
        return len(item.encode())
    if isinstance(item, (list, tuple, dict)):
        return len(item)
    raise _FnError(f"len of type {go_type(item)}")


def _basic(v):
    if isinstance(v, Nil) or v is MISSING:
        return None
    return v


def _eq(a, *bs):
    if not bs:
        raise _FnError("missing argument for comparison")
    a = _basic(a)
    for b in bs:
        b = _basic(b)
        if a is None or b is None:
            if a is None and b is None:
                return True
            continue
        if isinstance(a, (dict, list, tuple, Struct)) or isinstance(b, (dict, list, tuple, Struct)):
            raise _FnError("non-comparable type" if type(a) is type(b) else "incompatible types for comparison")
        if isinstance(a, bool) != isinstance(b, bool) or isinstance(a, str) != isinstance(b, str):
            raise _FnError("incompatible types for comparison")
        if a == b:
            return True
    return False


def _lt(a, b):
    a, b = _basic(a), _basic(b)
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
        raise _FnError("invalid type for comparison")
    if isinstance(a, str) != isinstance(b, str):
        raise _FnError("incompatible types for comparison")
    if isinstance(a, (dict, list, tuple, Struct)) or isinstance(b, (dict, list, tuple, Struct)):
        raise _FnError("invalid type for comparison")
    return a < b


def _sprint(args, spaces_always=False) -> str:
    out = []
    for i, a in enumerate(args):
        if i and (spaces_always or not (isinstance(args[i - 1], str) or isinstance(a, str))):
            out.append(" ")
        out.append(go_str(a, top=False) if not isinstance(a, str) else a)
    return "".join(out)



def sprintf(fmt: str, *args) -> str:
    """Go's fmt.Sprintf for the verbs people use: %v %s %q %d %t %f %e %g %x %X %o %c %T %%,
    with flags, width and precision; Go's %!verb(MISSING) / %!(EXTRA ...) markers."""
    out, i, n, ai = [], 0, len(fmt), 0
    while i < n:
        ch = fmt[i]
        if ch != "%":
            out.append(ch)
            i += 1
            continue
        j = i + 1
        flags = ""
        while j < n and fmt[j] in "+-# 0":
            flags += fmt[j]
            j += 1
        width = ""
        while j < n and fmt[j].isdigit():
            width += fmt[j]
            j += 1
        prec = None
        if j < n and fmt[j] == ".":
            j += 1
            prec = ""
            while j < n and fmt[j].isdigit():
                prec += fmt[j]
                j += 1
        if j >= n:
            out.append("%!(NOVERB)")
            break
        verb = fmt[j]
        i = j + 1
        if verb == "%":
            out.append("%")
            continue
        if ai >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        a = _basic(args[ai]) if not isinstance(args[ai], Nil) else args[ai]
        ai += 1
        out.append(_fmt_one(verb, flags, width, prec, a))
    if ai < len(args):
        extra = ", ".join(f"{go_type(a)}={go_str(a, False)}" for a in args[ai:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def _fmt_one(verb, flags, width, prec, a) -> str:
    pyflags = "".join(f for f in flags if f in "+- 0#")
    pprec = f".{prec or 0}" if prec is not None else ""
    if verb == "s" and (isinstance(a, (bool, int, float)) or a is None):
        return f"%!s({go_type(a)}={go_str(a, False)})"
    if verb in "vs":
        s = go_str(a, top=False) if not isinstance(a, str) else a
        if verb == "v" and "+" in flags and isinstance(a, Struct):
            s = "{" + " ".join(f"{k}:{go_str(x, False)}" for k, x in a.fields.items()) + "}"
        if prec is not None:
            s = s[:int(prec or 0)]
        return _pad(s, flags, width)
    if verb == "q":
        if isinstance(a, int) and not isinstance(a, bool):
            return _pad("'" + chr(a) + "'", flags, width)
        return _pad(_quote(go_str(a, top=False) if not isinstance(a, str) else a), flags, width)
    if verb == "t":
        if not isinstance(a, bool):
            return f"%!t({go_type(a)}={go_str(a, False)})"
        return _pad("true" if a else "false", flags, width)
    if verb == "T":
        return _pad(go_type(a), flags, width)
    if verb in "dxXobc":
        if isinstance(a, bool) or not isinstance(a, int):
            if verb in "xX" and isinstance(a, str):
                h = a.encode().hex()
                return _pad(h.upper() if verb == "X" else h, flags, width)
            return f"%!{verb}({go_type(a)}={go_str(a, False)})"
        if verb == "c":
            return _pad(chr(a), flags, width)
        return format(a, f"{pyflags}{width}{verb if verb != 'd' else 'd'}")
    if verb in "feEgG":
        if isinstance(a, bool) or not isinstance(a, (int, float)):
            return f"%!{verb}({go_type(a)}={go_str(a, False)})"
        if verb in "gG" and prec is None:
            s = _go_float(float(a))
            return _pad(s.upper() if verb == "G" else s, flags, width)
        return format(float(a), f"{pyflags}{width}{pprec or ('.6' if verb in 'feE' else '')}{verb}")
    return f"%!{verb}({go_type(a)}={go_str(a, False)})"


def _pad(s: str, flags: str, width: str) -> str:
    if not width:
        return s
    w = int(width)
    return s.ljust(w) if "-" in flags else s.rjust(w)


def _html(*args) -> str:
    s = _sprint(list(args))
    return (s.replace("&", "&amp;").replace("'", "&#39;").replace("<", "&lt;")
            .replace(">", "&gt;").replace('"', "&#34;").replace("\0", "\uFFFD"))


def _js(*args) -> str:
    s = _sprint(list(args))
    out = []
    for ch in s:
        if ch in "\\'\"":
            out.append("\\" + ch)
        elif ch in "<>&=":
            out.append(f"\\u{ord(ch):04X}")
        elif ord(ch) < 0x20:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return "".join(out)


def _urlquery(*args) -> str:
    from urllib.parse import quote_plus

    return quote_plus(_sprint(list(args)), safe="")


def _str_arg(name, v) -> str:
    if isinstance(v, str):
        return v
    raise _FnError(f"wrong type for value; expected string; got {go_type(v)}")


def _split(s, sep):
    s, sep = _str_arg("split", s), _str_arg("split", sep)
    if sep == "":
        return list(s)
    return s.split(sep)


def _join(items, sep):
    sep = _str_arg("join", sep)
    if isinstance(items, Nil):
        return ""
    if not isinstance(items, (list, tuple)):
        raise _FnError(f"wrong type for value; expected []string; got {go_type(items)}")
    return sep.join(go_str(x, False) if not isinstance(x, str) else x for x in items)


def _title(s):
    """strings.Title: the first letter of each word upper-cased (a word starts after
    anything that is not a letter, digit, underscore or apostrophe-less mark)."""
    s = _str_arg("title", s)
    out, prev_sep = [], True
    for ch in s:
        out.append(ch.upper() if prev_sep else ch)
        prev_sep = not (ch.isalnum() or ch == "_")
    return "".join(out)


def _pad_fn(s, prefix, suffix):
    s = _str_arg("pad", s)
    if not s:
        return ""
    return " " * prefix + s + " " * suffix


def _truncate(s, length):
    s = _str_arg("truncate", s)
    if len(s) < length:
        return s
    return s[:length]


def _not(v):
    return not truth(v)


_ARITY = {"not": 1, "len": 1, "lt": 2, "le": 2, "gt": 2, "ge": 2, "ne": 2, "split": 2,
          "join": 2, "title": 1, "lower": 1, "upper": 1, "json": 1, "pad": 3, "truncate": 2}
_MIN_ARITY = {"index": 1, "slice": 1, "eq": 1, "and": 1, "or": 1}

FUNCS = {
    "and": None, "or": None,  # short-circuit: evaluated by the executor
    "not": _not,
    "len": _len,
    "index": _index,
    "slice": _slice,
    "eq": _eq,
    "ne": lambda a, b: not _eq(a, b),
    "lt": _lt,
    "le": lambda a, b: _lt(a, b) or _eq(a, b),
    "gt": lambda a, b: not (_lt(a, b) or _eq(a, b)),
    "ge": lambda a, b: not _lt(a, b),
    "print": lambda *a: _sprint(list(a)),
    "println": lambda *a: _sprint(list(a), spaces_always=True) + "\n",
    "printf": lambda f, *a: sprintf(_str_arg("printf", f), *a),
    "html": _html,
    "js": _js,
    "urlquery": _urlquery,
    # docker's (cli/templates/templates.go basicFunctions)
    "json": to_json,
    "split": _split,
    "join": _join,
    "title": _title,
    "lower": lambda s: _str_arg("lower", s).lower(),
    "upper": lambda s: _str_arg("upper", s).upper(),
    "pad": _pad_fn,
    "truncate": _truncate,
}

# docker's HeaderFunctions: in a table's header row each function passes its string through.
HEADER_FUNCS = dict(FUNCS, **{
    "json": lambda v: v, "split": lambda v, _s: v, "join": lambda v, _s: v,
    "title": lambda v: v, "lower": lambda v: v, "upper": lambda v: v,
    "pad": lambda v, _a, _b: v, "truncate": lambda v, _n: v,
})


# -- execution -----------------------------------------------------------------------------------

class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class Template:
    """A parsed template. ``missingkey_error`` is docker inspect's fallback mode
    (``map has no entry for key``); otherwise a missing map key is ``<no value>``."""

    def __init__(self, src: str, missingkey_error: bool = False):
        self.src = src
        self.missingkey_error = missingkey_error
        self.nodes = _Parser(src, FUNCS).parse()

    def execute(self, data, header: bool = False) -> str:
        out: list[str] = []
        ex = _Exec(self, data, HEADER_FUNCS if header else FUNCS)
        ex.walk(self.nodes, data, out)
        return "".join(out)


class _Exec:
    def __init__(self, tmpl: Template, data, funcs):
        self.t = tmpl
        self.funcs = funcs
        self.vars: list[tuple[str, object]] = [("$", data)]

    # errors as Go's: template: :LINE:COL: executing "" at <NODE>: MSG
    def fail(self, pos: int, node_text: str, msg: str):
        src = self.t.src[:pos]
        nl = src.rfind("\n")
        col = pos if nl < 0 else pos - nl - 1
        line = 1 + src.count("\n")
        raise TemplateError(f'template: :{line}:{col}: executing "" at <{node_text}>: {msg}')

    def walk(self, nodes, dot, out):
        for n in nodes:
            kind = n[0]
            if kind == "text":
                out.append(n[1])
            elif kind == "action":
                v = self.pipeline(n[1], dot)
                if not n[1][0]:  # an action that declares a variable prints nothing
                    out.append(go_str(v))
            elif kind == "if" or kind == "with":
                mark = len(self.vars)
                v = self.pipeline(n[1], dot)
                if truth(v):
                    self.walk(n[2], v if kind == "with" else dot, out)
                else:
                    self.walk(n[3], dot, out)
                del self.vars[mark:]
            elif kind == "range":
                self.range_(n, dot, out)
            elif kind == "break":
                raise _Break()
            elif kind == "continue":
                raise _Continue()

    def range_(self, n, dot, out):
        _, pipe, body, other, pos = n
        mark = len(self.vars)
        decl = pipe[0]
        v = self.pipeline(pipe, dot, declare=False)  # range binds its variables per element
        if isinstance(v, Nil) or v is None or v is MISSING:
            items = []
        elif isinstance(v, dict):
            items = [(k, v[k]) for k in sorted(v, key=_sort_key)]
        elif isinstance(v, (list, tuple)):
            items = list(enumerate(v))
        elif isinstance(v, int) and not isinstance(v, bool):
            items = [(i, i) for i in range(v)]
        else:
            self.fail(pipe[3], self.pipe_text(pipe), f"range can't iterate over {go_str(v)}")
        base = len(self.vars)
        for k, val in items:
            del self.vars[base:]
            if len(decl) == 1:
                self.vars.append((decl[0], val))
            elif len(decl) == 2:
                self.vars.append((decl[0], k))
                self.vars.append((decl[1], val))
            try:
                self.walk(body, val, out)
            except _Break:
                break
            except _Continue:
                continue
        if not items:
            self.walk(other, dot, out)
        del self.vars[mark:]

    def pipe_text(self, pipe) -> str:
        return " | ".join(self.cmd_text(c) for c in pipe[2])

    def cmd_text(self, cmd) -> str:
        return " ".join(self.arg_text(a) for a in cmd[0])

    def arg_text(self, a) -> str:
        k = a[0]
        if k == "field":
            return "." + ".".join(a[1])
        if k == "var":
            return a[1] + "".join("." + x for x in a[2])
        if k == "dot":
            return "."
        if k == "ident":
            return a[1]
        if k == "lit":
            v = a[1]
            return _quote(v) if isinstance(v, str) else go_str(v) if v is not None else "nil"
        if k == "pipe":
            return "(" + self.pipe_text(a[1]) + ")" + "".join("." + x for x in a[2])
        return "?"

    def pipeline(self, pipe, dot, declare: bool = True):
        decl, is_assign, cmds, _pos = pipe
        v = MISSING
        final = _NOFINAL
        for cmd in cmds:
            v = self.command(cmd, dot, final)
            final = v
        if decl and declare:
            if is_assign:
                for i in range(len(self.vars) - 1, -1, -1):
                    if self.vars[i][0] == decl[0]:
                        self.vars[i] = (decl[0], v)
                        break
            else:
                self.vars.append((decl[0], v))
        return v

    def command(self, cmd, dot, final):
        args, pos = cmd
        first = args[0]
        k = first[0]
        if k == "field":
            return self.field_chain(dot, dot, first[1], first, args, final)
        if k == "var":
            val = self.var(first)
            if first[2]:
                return self.field_chain(dot, val, first[2], first, args, final)
            self.not_function(first, args, final)
            return val
        if k == "pipe":
            val = self.pipeline(first[1], dot)
            if first[2]:
                return self.field_chain(dot, val, first[2], first, args, final)
            self.not_function(first, args, final)
            return val
        if k == "ident":
            return self.call(first, args, dot, final)
        if k == "lit" and first[1] is None:
            self.fail(first[-1], "nil", "nil is not a command")
        self.not_function(first, args, final)
        if k == "dot":
            return dot
        return first[1]

    def not_function(self, first, args, final):
        if len(args) > 1 or final is not _NOFINAL:
            self.fail(first[-1], self.arg_text(first),
                      f"can't give argument to non-function {self.arg_text(first)}")

    def var(self, a):
        for name, val in reversed(self.vars):
            if name == a[1]:
                return val
        self.fail(a[3], a[1], f"undefined variable: {a[1]}")

    def arg(self, a, dot):
        k = a[0]
        if k == "field":
            return self.field_chain(dot, dot, a[1], a, [a], _NOFINAL)
        if k == "var":
            val = self.var(a)
            return self.field_chain(dot, val, a[2], a, [a], _NOFINAL) if a[2] else val
        if k == "pipe":
            val = self.pipeline(a[1], dot)
            return self.field_chain(dot, val, a[2], a, [a], _NOFINAL) if a[2] else val
        if k == "dot":
            return dot
        if k == "ident":
            return self.call(a, [a], dot, _NOFINAL)
        return a[1]

    def field_chain(self, dot, recv, names, node, args, final):
        text = self.arg_text(node)
        for i, name in enumerate(names):
            last = i == len(names) - 1
            recv = self.field(dot, recv, name, node, text, args if last else [node],
                              final if last else _NOFINAL)
        return recv

    def field(self, dot, recv, name, node, text, args, final):
        has_args = len(args) > 1 or final is not _NOFINAL
        pos = node[-1]
        if recv is MISSING or recv is None:
            if self.t.missingkey_error:
                self.fail(pos, text, f'nil data; no entry for key "{name}"')
            return MISSING
        if isinstance(recv, Nil):
            if recv.kind == "map":
                if self.t.missingkey_error:
                    self.fail(pos, text, f'map has no entry for key "{name}"')
                return MISSING
            self.fail(pos, text, f"nil pointer evaluating {go_type(recv)}.{name}")
        if isinstance(recv, Struct):
            if name in recv.methods:
                vals = [self.arg(a, dot) for a in args[1:]]
                if final is not _NOFINAL:
                    vals.append(final)
                try:
                    return recv.methods[name](*vals)
                except TypeError:
                    self.fail(pos, text, f"wrong number of args for {name}: want 1 got {len(vals)}")
                except _FnError as e:
                    self.fail(pos, text, f"error calling {name}: {e}")
            if name in recv.fields:
                if has_args:
                    self.fail(pos, text, f"{name} has arguments but cannot be invoked as function")
                return recv.fields[name]
            self.fail(pos, text, f"can't evaluate field {name} in type {recv.type_name}")
        if isinstance(recv, dict):
            if has_args:
                self.fail(pos, text, f"{name} is not a method but has arguments")
            if name in recv:
                return recv[name]
            if self.t.missingkey_error and not isinstance(recv, GoMap):
                self.fail(pos, text, f'map has no entry for key "{name}"')
            return MISSING
        self.fail(pos, text, f"can't evaluate field {name} in type {go_type(recv)}")

    def call(self, ident, args, dot, final):
        name, pos = ident[1], ident[2]
        fn = self.funcs[name]
        if name in ("and", "or"):
            vals = args[1:]
            if not vals and final is _NOFINAL:
                self.fail(pos, name, f"wrong number of args for {name}: want at least 1 got 0")
            v = MISSING
            seq = [lambda a=a: self.arg(a, dot) for a in vals]
            if final is not _NOFINAL:
                seq.append(lambda: final)
            for get in seq:
                v = get()
                if truth(v) != (name == "and"):
                    return v
            return v
        vals = [self.arg(a, dot) for a in args[1:]]
        if final is not _NOFINAL:
            vals.append(final)
        want = _ARITY.get(name)
        if want is not None and len(vals) != want:
            self.fail(pos, name, f"wrong number of args for {name}: want {want} got {len(vals)}")
        if name in _MIN_ARITY and len(vals) < _MIN_ARITY[name]:
            self.fail(pos, name, f"wrong number of args for {name}: want at least "
                                 f"{_MIN_ARITY[name]} got {len(vals)}")
        if name == "printf" and not vals:
            self.fail(pos, name, "wrong number of args for printf: want at least 1 got 0")
        try:
            return fn(*vals)
        except _FnError as e:
            self.fail(pos, self.cmd_text((args, pos)), f"error calling {name}: {e}")
        except TypeError as e:
            self.fail(pos, self.cmd_text((args, pos)), f"error calling {name}: {e}")


_NOFINAL = object()


def parse(src: str, missingkey_error: bool = False) -> Template:
    return Template(src, missingkey_error)
