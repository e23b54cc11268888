"""Our Go templates beside Go's own: each template of CASES through `docker version --format`
(the docker CLI runs the template itself, before it needs a daemon: no daemon is needed) and
through layerbox.cli.gotemplate, compared. A local check where a docker CLI is installed:

    python3 benchmarks/template_oracle.py [path/to/docker]

Only templates over literals can be compared this way (the data is docker's version info); the
table-driven tests/unit/test_gotemplate.py covers data, fields and errors.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

CASES = [
    '{{$l := split "x,y,z" ","}}{{range $i, $v := $l}}{{$i}}={{$v}} {{end}}',
    '{{$l := split "x,y,z" ","}}{{range $l}}[{{.}}]{{end}}{{range $l}}{{if eq . "y"}}{{continue}}{{end}}'
    '{{.}}{{end}}{{range $l}}{{if eq . "y"}}{{break}}{{end}}{{.}}{{end}}',
    '{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}',
    '{{if ""}}a{{else if 3}}b{{else}}c{{end}}{{with ""}}a{{else}}b{{end}}{{with "v"}}{{.}}{{end}}',
    '{{and "web" 3}} {{or "" "web"}} {{not false}} {{and 0 1}} {{or 0 ""}}',
    '{{eq "web" "web"}} {{ne 3 3}} {{lt 3 4}} {{ge 3 3}} {{eq 3 1 2 3}} {{le 2 2}} {{gt "b" "a"}}',
    '{{printf "%s:%d:%v:%q:%5.2f|%-5s|%5s|%t|%x|%X|%o|%c|%e|%g|%08.3f|%+d|%T" "web" 3 "z" "web" 1.5 '
    '"web" "web" true 255 255 8 65 1234.5678 0.000012 3.14159 5 "s"}}',
    '{{printf "%v %v %v %v" 1 2.5 true "s"}}{{printf "%d %s" 1}}{{printf "%d" 1 2}}',
    '{{printf "%s" 3}}{{printf "%d" "x"}}{{printf "%z" 1}}',
    '{{print 1 2 "a" "b" 3}}{{println "a" 1}}',
    '{{len (split "a:b" ":")}} {{index (split "a:b" ":") 1}} {{slice (split "a:b:c" ":") 1}} {{slice "abcdef" 1 3}}',
    '{{join (split "a b c" " ") "+"}} {{lower "ABC"}} {{upper "abc"}} {{title "hello world_x y-z"}}',
    "{{`raw\\n`}}{{'a'}}{{1.5}}{{-3}}{{true}}{{0x1F}}{{1_000}}{{2.0}}{{100000000.0}}{{123456.0}}{{1e-7}}{{1e6}}",
    'a  {{- "b" -}}  c {{/* comment */}}d{{- /* c2 */ -}} e',
    '{{json (split "a,b" ",")}} {{json 1.5}} {{json true}} {{json "é<&>"}}',
    '{{"x" | printf "%s-%s" "a"}} {{"web" | upper | printf "%s!"}} {{split "a:b" ":" | len}}',
    '{{(index (split "a:b" ":") 0) | upper}}',
    '{{range $i, $c := split "ab" ""}}{{$i}}{{$c}}{{end}}{{range 3}}{{.}}{{end}}',
    '{{html "<\'\\"&>"}} {{js "<a href=\'x\'>\\"&="}} {{urlquery "a/b c?d=e"}}',
    '{{pad "" 1 2}}|{{pad "web" 1 2}}|{{truncate "abc" 5}}|{{truncate "abcdef" 3}}',
    # parse errors: both must refuse
    '{{}}', '{{$x}}', '{{end}}', '{{if 1}}', '{{nosuch 1}}', '{{.A'
]


def main() -> int:
    sys.path.insert(0, "python")
    from layerbox.cli import gotemplate as gt

    docker = sys.argv[1] if len(sys.argv) > 1 else shutil.which("docker")
    if not docker:
        print("no docker CLI here: nothing to compare with")
        return 0
    same = differ = 0
    for t in CASES:
        r = subprocess.run([docker, "version", "--format", t], capture_output=True, text=True)
        go = r.stdout[:-1] if r.stdout.endswith("\n") else r.stdout
        go_err = [ln for ln in r.stderr.splitlines() if "template" in ln]
        try:
            mine, my_err = gt.Template(t).execute({}), ""
        except gt.TemplateError as e:
            mine, my_err = "", str(e)
        ok = (go == mine or go_err) and bool(go_err) == bool(my_err)
        same += bool(ok)
        differ += not ok
        print(("same " if ok else "DIFF ") + repr(t))
        if not ok:
            print(f"  go:       {go!r} {go_err}\n  layerbox: {mine!r} {my_err}")
    print(f"{same} same, {differ} different")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
