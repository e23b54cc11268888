"""The template engine against what Go's text/template (with docker's functions) prints for the
same template and data: one row per case, as docker's users write them in scripts."""

from __future__ import annotations

import pytest

from layerbox.cli import gotemplate as gt
from layerbox.cli import output

DATA = {
    "Name": "web", "Num": 3, "F": 1.5, "Big": 1e6, "Yes": True, "No": False, "Empty": "",
    "Labels": gt.GoMap({"b": "2", "a": "1", "com.example.role": "db"}),
    "List": ["x", "y", "z"], "Nums": [1, 2], "Null": None,
    "Cmd": gt.NIL_SLICE, "Vols": gt.NIL_MAP, "Health": gt.NIL_PTR,
    "Nested": {"Deep": {"Key": "v"}}, "Items": [{"A": 1, "B": "one"}, {"A": 2, "B": "two"}],
}

CASES = [
    # fields, nesting, printing of Go values
    ("{{.Name}}", "web"),
    ("{{.Nested.Deep.Key}}", "v"),
    ("{{.Num}} {{.F}} {{.Big}} {{.Yes}} {{.No}}", "3 1.5 1e+06 true false"),
    ("{{.List}} {{.Labels}}", "[x y z] map[a:1 b:2 com.example.role:db]"),
    ("{{.Cmd}} {{.Vols}} {{.Health}} {{.Null}}", "[] map[] <nil> <no value>"),
    ("{{.Nope}}", "<no value>"),
    ("{{.Items}}", "[map[A:1 B:one] map[A:2 B:two]]"),
    # range, variables, else, break/continue
    ("{{range .List}}[{{.}}]{{end}}", "[x][y][z]"),
    ("{{range $i, $v := .List}}{{$i}}={{$v}} {{end}}", "0=x 1=y 2=z "),
    ("{{range $k, $v := .Labels}}{{$k}}:{{$v}};{{end}}", "a:1;b:2;com.example.role:db;"),
    ("{{range $v := .Nums}}{{$v}}{{end}}", "12"),
    ("{{range .Cmd}}x{{else}}none{{end}}", "none"),
    ("{{range .Items}}{{.B}}{{if eq .A 1}},{{end}}{{end}}", "one,two"),
    ("{{range .List}}{{if eq . \"y\"}}{{continue}}{{end}}{{.}}{{end}}", "xz"),
    ("{{range .List}}{{if eq . \"y\"}}{{break}}{{end}}{{.}}{{end}}", "x"),
    ("{{$n := .Name}}{{range .List}}{{$n}}-{{.}} {{end}}", "web-x web-y web-z "),
    ("{{$x := 1}}{{if .Yes}}{{$x = 2}}{{end}}{{$x}}", "2"),
    ("{{range .Items}}{{$.Name}}{{end}}", "webweb"),
    # if / else if / with
    ("{{if .Yes}}a{{else}}b{{end}}", "a"),
    ("{{if .Empty}}a{{else if .Num}}b{{else}}c{{end}}", "b"),
    ("{{if .Cmd}}a{{else}}b{{end}}{{if .Health}}a{{else}}b{{end}}", "bb"),
    ("{{with .Nested.Deep}}{{.Key}}{{end}}", "v"),
    ("{{with .Empty}}a{{else}}b{{end}}", "b"),
    ("{{if and .Yes .Num}}y{{end}}{{if or .No .Empty}}y{{else}}n{{end}}{{if not .No}}!{{end}}", "yn!"),
    ("{{and .Name .Num}} {{or .Empty .Name}}", "3 web"),
    # Go's functions
    ("{{index .Labels \"a\"}} {{index .List 1}} {{index .Items 1 \"B\"}}", "1 y two"),
    ("{{index .Labels \"zz\"}}", "<no value>"),
    ("{{len .List}} {{len .Labels}} {{len .Name}} {{len .Cmd}}", "3 3 3 0"),
    ("{{slice .List 1}} {{slice .Name 0 2}}", "[y z] we"),
    ("{{eq .Name \"web\"}} {{ne .Num 3}} {{lt .Num 4}} {{ge .Num 3}} {{eq .Num 1 2 3}}", "true false true true true"),
    ("{{printf \"%s:%d:%v:%q:%5.2f|%-5s|%5s|%t|%x\" .Name .Num .List .Name .F .Name .Name .Yes 255}}",
     "web:3:[x y z]:\"web\": 1.50|web  |  web|true|ff"),
    ("{{printf \"%d\"}}", "%!d(MISSING)"),
    ("{{print .Name .Num 1 2 \"s\"}}", "web3 1 2s"),
    ("{{println .Name .Num}}", "web 3\n"),
    ("{{html \"<a&b>\"}} {{urlquery \"a b&c\"}} {{js \"it's\"}}", "&lt;a&amp;b&gt; a+b%26c it\\'s"),
    # docker's functions
    ("{{json .Name}} {{json .Labels}} {{json .Cmd}} {{json .List}}",
     '"web" {"a":"1","b":"2","com.example.role":"db"} null ["x","y","z"]'),
    ("{{json .Nested}}", '{"Deep":{"Key":"v"}}'),
    ("{{json \"<&>\"}}", '"<&>"'),
    ("{{join .List \",\"}} {{split \"a:b:c\" \":\"}} {{len (split \"a:b\" \":\")}}", "x,y,z [a b c] 2"),
    ("{{lower \"ABC\"}} {{upper .Name}} {{title \"hello big-world\"}}", "abc WEB Hello Big-World"),
    ("[{{pad .Name 1 2}}][{{pad .Empty 1 2}}] {{truncate .Name 2}} {{truncate .Name 9}}", "[ web  ][] we web"),
    # pipelines and parentheses
    ("{{.Name | upper}}", "WEB"),
    ("{{.Name | printf \"%s-%s\" \"a\"}}", "a-web"),
    ("{{.List | join \"+\" | len}}", "error"),  # join's value goes last: join "+" .List is wrong
    ("{{(index .Items 0).B}} {{(index .Items 1).A | printf \"%03d\"}}", "one 002"),
    ("{{index .Labels \"com.example.role\" | upper}}", "DB"),
    # whitespace trimming, comments, literals
    ("a  {{- .Name -}}  \n b", "awebb"),
    ("{{/* a comment */}}x{{- /* trimmed */ -}} y", "xy"),
    ("{{\"q\\t\"}}{{`raw\\n`}}{{'a'}}{{1.5}}{{-3}}{{true}}{{1e6}}{{printf \"%s|%v\" 3 nil}}",
     "q\traw\\n971.5-3true1e+06%!s(int=3)|<nil>"),
]


@pytest.mark.parametrize("tmpl,want", CASES)
def test_go_semantics(tmpl, want):
    if want == "error":
        with pytest.raises(gt.TemplateError):
            gt.Template(tmpl).execute(DATA)
        return
    assert gt.Template(tmpl).execute(DATA) == want


ERRORS = [
    # (template, data, missingkey=error, Go's message)
    ("{{.Nope}}", gt.Struct({"ID": "x"}, "*formatter.ContainerContext"), False,
     'template: :1:2: executing "" at <.Nope>: can\'t evaluate field Nope in type *formatter.ContainerContext'),
    ("x\n {{.ID}} {{.Nope.A}}", gt.Struct({"ID": "x"}, "*formatter.ContainerContext"), False,
     'template: :2:11: executing "" at <.Nope.A>: can\'t evaluate field Nope in type *formatter.ContainerContext'),
    ("{{.Nope}}", {"Id": "x"}, True, 'template: :1:2: executing "" at <.Nope>: map has no entry for key "Nope"'),
    ("{{.Config.Nope}}", {"Config": {"Cmd": None}}, True,
     'template: :1:2: executing "" at <.Config.Nope>: map has no entry for key "Nope"'),
    ("{{.Name.X}}", {"Name": "web"}, False,
     'template: :1:2: executing "" at <.Name.X>: can\'t evaluate field X in type string'),
    ("{{index .L 5}}", {"L": [1]}, False,
     'template: :1:2: executing "" at <index .L 5>: error calling index: index out of range: 5'),
    ("{{.Name 1}}", {"Name": "web"}, False,
     'template: :1:2: executing "" at <.Name>: Name is not a method but has arguments'),
    ("{{.Name", {}, False, "template: :1: unclosed action"),
    ("{{if .A}}", {}, False, "template: :1: unexpected EOF"),
    ("{{end}}", {}, False, "template: :1: unexpected {{end}}"),
    ("{{nosuch .A}}", {}, False, 'template: :1: function "nosuch" not defined'),
    ("{{$x}}", {}, False, 'template: :1: undefined variable "$x"'),
    ("{{}}", {}, False, "template: :1: missing value for command"),
    ("{{nil}}", {}, False, 'template: :1:2: executing "" at <nil>: nil is not a command'),
]


@pytest.mark.parametrize("tmpl,data,mke,msg", ERRORS)
def test_go_errors(tmpl, data, mke, msg):
    with pytest.raises(gt.TemplateError) as e:
        gt.Template(tmpl, missingkey_error=mke).execute(data)
    assert str(e.value) == msg


def test_labels_are_maps_in_inspect_mode():
    """docker inspect: a missing label is <no value> (a Go map), a missing field an error."""
    doc = gt.typed({"Config": {"Labels": {"a": "1"}, "Cmd": None, "Healthcheck": None}},
                   {"Config": {"Labels": "map", "Cmd": "slice", "Healthcheck": "ptr"}})
    t = gt.Template("{{.Config.Labels.zz}} {{.Config.Cmd}} {{.Config.Healthcheck}} {{index .Config.Labels \"a\"}}",
                    missingkey_error=True)
    assert t.execute(doc) == "<no value> [] <nil> 1"


def _render(fmt, rows, **kw):
    import io

    buf = io.StringIO()
    output.render(fmt, rows, out=buf, **kw)
    return buf.getvalue()


PS_HEADERS = {"ID": "CONTAINER ID", "Names": "NAMES", "Ports": "PORTS", "Status": "STATUS"}


def test_table_format_as_docker():
    rows = [{"ID": "abc", "Names": "web", "Ports": "", "Status": "Up 1 second", "_labels": {"k.role": "db"}},
            {"ID": "def", "Names": "a-much-longer-name", "Ports": "80/tcp", "Status": "Created", "_labels": {}}]
    meth = lambda r: {"Label": lambda k: r["_labels"].get(k, "")}  # noqa: E731
    kw = dict(headers=PS_HEADERS, type_name="*formatter.ContainerContext", methods=meth)
    # docker's tabwriter: minimum width 10, padding 3, the last column unpadded
    assert _render("table {{.ID}}\\t{{.Names}}\\t{{.Status}}", rows, **kw) == (
        "CONTAINER ID   NAMES                STATUS\n"
        "abc            web                  Up 1 second\n"
        "def            a-much-longer-name   Created\n")
    assert _render('table {{.Names}}\\t{{.Label "k.role"}}', rows, **kw) == (
        "NAMES                ROLE\nweb                  db\na-much-longer-name   \n")
    assert _render("{{.Names}}: {{.Ports}}", rows, **kw) == "web: \na-much-longer-name: 80/tcp\n"
    assert _render('{{.Label "k.role"}}', rows, **kw) == "db\n\n"
    assert _render("table", rows, default_table="{{.ID}}\\t{{.Names}}", **kw).splitlines()[0] == \
        "CONTAINER ID   NAMES"
    # json: one object per row, keys sorted, nothing private
    assert _render("json", rows[:1], **kw) == '{"ID":"abc","Names":"web","Ports":"","Status":"Up 1 second"}\n'
    assert _render("{{json .}}", rows[:1], **kw) == _render("json", rows[:1], **kw)
    # a header for no rows; an unknown field is an error even then
    assert _render("table {{.ID}}\\t{{.Names}}", [], **kw) == "CONTAINER ID   NAMES\n"
    with pytest.raises(gt.TemplateError, match=r"template parsing error: template: :1:10: executing \"\" at "
                                               r"<\.Nope>: can't evaluate field Nope in type \*formatter\.ContainerContext"):
        _render("table {{.ID}}\\t{{.Nope}}", [], **kw)
    # upper and friends pass the header through (docker's HeaderFunctions)
    assert _render("table {{upper .Names}}\\t{{json .ID}}", rows[:1], **kw) == 'NAMES     CONTAINER ID\nWEB       "abc"\n'


def test_tabwriter_blocks():
    # a column is as wide as its widest cell in each run of lines that have it
    assert output._tabwriter([["a", "b"], ["longer-than-ten", "c"], ["x"]]) == (
        "a                 b\nlonger-than-ten   c\nx\n")
