"""The Dockerfile parser (layerbox.builder.dockerfile): good files to structure, bad files to
located errors."""

import pytest

from layerbox.builder.dockerfile import (
    Add, Arg, Cmd, Copy, Dockerfile, DockerfileError, Entrypoint, Env, Expose, From, Healthcheck,
    Heredoc, Label, Maintainer, Onbuild, Run, Shell, StopSignal, User, Volume, Workdir, parse,
    parse_duration, parse_file, parse_heredoc,
)
from layerbox.errors import InvalidArgument

SEC = 10**9

# (Dockerfile text, stage index, instruction index (-1: the FROM), class, expected attributes)
GOOD = [
    # -- FROM ------------------------------------------------------------------------------------
    ("FROM alpine", 0, -1, From, dict(image="alpine", name=None, platform=None, line=1,
                                      original="FROM alpine")),
    ("from alpine:3.19 as Builder", 0, -1, From, dict(image="alpine:3.19", name="builder",
                                                     keyword="FROM")),
    ("FROM --platform=linux/arm64 busybox AS b-1.x_y", 0, -1, From,
     dict(platform="linux/arm64", name="b-1.x_y", flags={"platform": "linux/arm64"})),
    ("FROM scratch", 0, -1, From, dict(image="scratch")),
    ("ARG V=1\nFROM img:${V} AS a", 0, -1, From, dict(image="img:${V}", line=2)),
    ("\n\n   FROM    alpine   ", 0, -1, From, dict(line=3, original="FROM    alpine")),
    # -- RUN ------------------------------------------------------------------------------------
    ("FROM a\nRUN echo hi", 0, 0, Run, dict(cmd=["echo hi"], prepend_shell=True, line=2)),
    ("FROM a\nrun   echo   hi  ", 0, 0, Run, dict(cmd=["echo   hi"], keyword="RUN",
                                                  original="run   echo   hi")),
    ('FROM a\nRUN ["echo", "hi"]', 0, 0, Run, dict(cmd=["echo", "hi"], prepend_shell=False)),
    ('FROM a\nRUN [ "sh", "-c", "echo \\"quoted\\" \\\\ back" ]', 0, 0, Run,
     dict(cmd=["sh", "-c", 'echo "quoted" \\ back'], prepend_shell=False)),
    ('FROM a\nRUN ["echo", "\\u00e9"]', 0, 0, Run, dict(cmd=["echo", "é"])),
    ("FROM a\nRUN []", 0, 0, Run, dict(cmd=[], prepend_shell=False)),
    ("FROM a\nRUN ['single', 'quotes']", 0, 0, Run,
     dict(cmd=["['single', 'quotes']"], prepend_shell=True)),
    ('FROM a\nRUN ["unterminated"', 0, 0, Run, dict(cmd=['["unterminated"'], prepend_shell=True)),
    ('FROM a\nRUN ["a"] trailing', 0, 0, Run, dict(cmd=['["a"] trailing'], prepend_shell=True)),
    ("FROM a\nRUN --network=none --security=insecure make", 0, 0, Run,
     dict(network="none", security="insecure", cmd=["make"],
          flags={"network": "none", "security": "insecure"})),
    ("FROM a\nRUN --mount=type=cache,target=/c --mount=type=secret,id=tok,required cat", 0, 0,
     Run, dict(flags={"mount": ["type=cache,target=/c", "type=secret,id=tok,required"]})),
    ("FROM a\nRUN --mount=type=bind,from=builder,source=/out,target=/in,ro true", 0, 0, Run,
     dict(cmd=["true"])),
    ('FROM a\nRUN --mount="type=bind,target=/x" true', 0, 0, Run,
     dict(flags={"mount": ["type=bind,target=/x"]})),
    ("FROM a\nRUN -- --not-a-flag", 0, 0, Run, dict(cmd=["--not-a-flag"], flags={})),
    ("FROM a\nRUN echo --flag=after", 0, 0, Run, dict(cmd=["echo --flag=after"])),
    # continuations, comments and blank lines inside them
    ("FROM a\nRUN apt-get update \\\n    && apt-get install -y x", 0, 0, Run,
     dict(cmd=["apt-get update     && apt-get install -y x"], line=2, end_line=3)),
    ("FROM a\nRUN a \\\n# comment\n  # indented comment\n\nb", 0, 0, Run,
     dict(cmd=["a b"], line=2, end_line=6)),
    ("FROM a\nRUN a \\  \t\n  b", 0, 0, Run, dict(cmd=["a   b"])),
    ("FROM a\nRUN echo \\\\", 0, 0, Run, dict(cmd=["echo \\\\"])),
    ("FROM a\nRUN echo \\", 0, 0, Run, dict(cmd=["echo"])),
    ("FROM a\nRUN \\\n echo x", 0, 0, Run, dict(cmd=["echo x"])),
    ("FROM a\r\nRUN a \\\r\n  b\r\n", 0, 0, Run, dict(cmd=["a   b"], line=2, end_line=3)),
    ("FROM a\nRUN echo # not a comment", 0, 0, Run, dict(cmd=["echo # not a comment"])),
    # -- CMD / ENTRYPOINT / SHELL ---------------------------------------------------------------
    ("FROM a\nCMD echo $HOME", 0, 0, Cmd, dict(cmd=["echo $HOME"], prepend_shell=True)),
    ('FROM a\nCMD ["nginx", "-g", "daemon off;"]', 0, 0, Cmd,
     dict(cmd=["nginx", "-g", "daemon off;"], prepend_shell=False)),
    ("FROM a\nCMD []", 0, 0, Cmd, dict(cmd=[], prepend_shell=False)),
    ('FROM a\nENTRYPOINT ["/entry.sh"]', 0, 0, Entrypoint, dict(cmd=["/entry.sh"])),
    ("FROM a\nENTRYPOINT exec top -b", 0, 0, Entrypoint, dict(cmd=["exec top -b"],
                                                              prepend_shell=True)),
    ("FROM a\nENTRYPOINT []", 0, 0, Entrypoint, dict(cmd=[])),
    ('FROM a\nSHELL ["powershell", "-command"]', 0, 0, Shell, dict(shell=["powershell", "-command"])),
    # -- ENV / LABEL ----------------------------------------------------------------------------
    ("FROM a\nENV A=1", 0, 0, Env, dict(pairs=[("A", "1")])),
    ('FROM a\nENV A=1 B="two words" C=\'single\' D=a\\ b', 0, 0, Env,
     dict(pairs=[("A", "1"), ("B", '"two words"'), ("C", "'single'"), ("D", "a\\ b")])),
    ("FROM a\nENV LEGACY value with  spaces", 0, 0, Env, dict(pairs=[("LEGACY", "value with  spaces")])),
    ('FROM a\nENV LEGACY "quoted"', 0, 0, Env, dict(pairs=[("LEGACY", '"quoted"')])),
    ("FROM a\nENV A= B=", 0, 0, Env, dict(pairs=[("A", ""), ("B", "")])),
    ("FROM a\nENV A=x=y", 0, 0, Env, dict(pairs=[("A", "x=y")])),
    ("FROM a\nENV A=1 \\\n    B=2", 0, 0, Env, dict(pairs=[("A", "1"), ("B", "2")])),
    ('FROM a\nLABEL version="1.0" "com.example.key"="v" multi="a b"', 0, 0, Label,
     dict(pairs=[("version", '"1.0"'), ('"com.example.key"', '"v"'), ("multi", '"a b"')])),
    ("FROM a\nLABEL description This is legacy", 0, 0, Label,
     dict(pairs=[("description", "This is legacy")])),
    ("FROM a\nMAINTAINER Jane Doe <jane@example.com>", 0, 0, Maintainer,
     dict(maintainer="Jane Doe <jane@example.com>")),
    # -- ARG ------------------------------------------------------------------------------------
    ("FROM a\nARG NAME", 0, 0, Arg, dict(pairs=[("NAME", None)], names=["NAME"])),
    ("FROM a\nARG NAME=default", 0, 0, Arg, dict(pairs=[("NAME", "default")])),
    ('FROM a\nARG A B=2 C="x y" D=', 0, 0, Arg,
     dict(pairs=[("A", None), ("B", "2"), ("C", '"x y"'), ("D", "")])),
    # -- EXPOSE / USER / WORKDIR / VOLUME / STOPSIGNAL ------------------------------------------
    ("FROM a\nEXPOSE 80 443/tcp 53/udp", 0, 0, Expose, dict(ports=["80", "443/tcp", "53/udp"])),
    ("FROM a\nEXPOSE $PORT", 0, 0, Expose, dict(ports=["$PORT"])),
    ("FROM a\nUSER app:staff", 0, 0, User, dict(user="app:staff")),
    ("FROM a\nUSER 1000", 0, 0, User, dict(user="1000")),
    ("FROM a\nWORKDIR /app/src", 0, 0, Workdir, dict(path="/app/src")),
    ("FROM a\nWORKDIR /path with spaces", 0, 0, Workdir, dict(path="/path with spaces")),
    ('FROM a\nVOLUME ["/data", "/logs"]', 0, 0, Volume, dict(paths=["/data", "/logs"])),
    ("FROM a\nVOLUME /data /logs", 0, 0, Volume, dict(paths=["/data", "/logs"])),
    ('FROM a\nVOLUME [" /padded "]', 0, 0, Volume, dict(paths=["/padded"])),
    ("FROM a\nSTOPSIGNAL SIGKILL", 0, 0, StopSignal, dict(signal="SIGKILL")),
    ("FROM a\nSTOPSIGNAL NOT-CHECKED-YET", 0, 0, StopSignal, dict(signal="NOT-CHECKED-YET")),
    # -- COPY / ADD -----------------------------------------------------------------------------
    ("FROM a\nCOPY src /dest/", 0, 0, Copy, dict(sources=["src"], dest="/dest/", from_=None,
                                                  chown=None, chmod=None, link=False)),
    ("FROM a\nCOPY a b c /dest/", 0, 0, Copy, dict(sources=["a", "b", "c"], dest="/dest/")),
    ('FROM a\nCOPY ["a b", "c", "/de st/"]', 0, 0, Copy,
     dict(sources=["a b", "c"], dest="/de st/")),
    ('FROM a\nCOPY "a b" /x', 0, 0, Copy, dict(sources=['"a', 'b"'], dest="/x")),
    ("FROM a\nCOPY --chown=1000:1000 --chmod=0755 --link --parents --exclude=*.md "
     "--exclude=tmp . /app", 0, 0, Copy,
     dict(chown="1000:1000", chmod="0755", link=True, parents=True, exclude=["*.md", "tmp"])),
    ("FROM a\nCOPY --link=false a b", 0, 0, Copy, dict(link=False, flags={"link": False})),
    ("FROM a\nCOPY --chown='user name' a b", 0, 0, Copy, dict(chown="user name")),
    ("FROM a\nCOPY --from=nginx:latest /etc/nginx /n", 0, 0, Copy, dict(from_="nginx:latest")),
    ("FROM a\nCOPY --from=$STAGE a b", 0, 0, Copy, dict(from_="$STAGE")),
    ("FROM a AS one\nFROM b\nCOPY --from=ONE /x /y", 1, 0, Copy, dict(from_="ONE")),
    ("FROM a\nFROM b\nCOPY --from=0 /x /y", 1, 0, Copy, dict(from_="0")),
    ("FROM a\nADD https://example.com/x.tgz /tmp/", 0, 0, Add,
     dict(sources=["https://example.com/x.tgz"], dest="/tmp/", checksum=None, unpack=None)),
    ("FROM a\nADD --checksum=sha256:abc --keep-git-dir --unpack=false --chmod=644 s d", 0, 0,
     Add, dict(checksum="sha256:abc", keep_git_dir=True, unpack=False, chmod="644")),
    ('FROM a\nADD ["x.tar", "/"]', 0, 0, Add, dict(sources=["x.tar"], dest="/")),
    # -- HEALTHCHECK ----------------------------------------------------------------------------
    ("FROM a\nHEALTHCHECK NONE", 0, 0, Healthcheck, dict(test=["NONE"])),
    ("FROM a\nHEALTHCHECK none", 0, 0, Healthcheck, dict(test=["NONE"])),
    ("FROM a\nHEALTHCHECK CMD curl -f http://localhost/", 0, 0, Healthcheck,
     dict(test=["CMD-SHELL", "curl -f http://localhost/"], interval=0, retries=0)),
    ('FROM a\nHEALTHCHECK --interval=5m --timeout=3s --start-period=1m30s --start-interval=500ms '
     '--retries=3 CMD ["/bin/check", "-v"]', 0, 0, Healthcheck,
     dict(test=["CMD", "/bin/check", "-v"], interval=300 * SEC, timeout=3 * SEC,
          start_period=90 * SEC, start_interval=SEC // 2, retries=3)),
    ("FROM a\nHEALTHCHECK --interval=0s cmd true", 0, 0, Healthcheck,
     dict(test=["CMD-SHELL", "true"], interval=0)),
    ("FROM a\nHEALTHCHECK --interval=1.5h --retries=0 CMD true", 0, 0, Healthcheck,
     dict(interval=5400 * SEC, retries=0)),
    # -- ONBUILD --------------------------------------------------------------------------------
    ("FROM a\nONBUILD RUN echo child", 0, 0, Onbuild,
     dict(expression="RUN echo child", original="ONBUILD RUN echo child")),
    ("FROM a\nonbuild   copy --chown=1 . /app", 0, 0, Onbuild,
     dict(expression="copy --chown=1 . /app")),
    # -- escape directive -----------------------------------------------------------------------
    ("# escape=`\nFROM windows\nRUN dir c:\\ `\n  && echo done", 0, 0, Run,
     dict(cmd=["dir c:\\   && echo done"], escape="`")),
    ("# escape=`\nFROM w\nCOPY testfile.txt c:\\\nRUN dir c:\\", 0, 0, Copy,
     dict(sources=["testfile.txt"], dest="c:\\")),
    ("# escape=`\nFROM w\nENV A=x` y", 0, 0, Env, dict(pairs=[("A", "x` y")])),
    ("#escape=\\\nFROM a\nRUN a \\\n b", 0, 0, Run, dict(cmd=["a  b"])),
    # a directive after an instruction, comment or blank line is just a comment
    ("FROM a\n# escape=`\nRUN a \\\n b", 0, 0, Run, dict(cmd=["a  b"], escape="\\")),
    ("\n# escape=`\nFROM a\nRUN a \\\n b", 0, 0, Run, dict(cmd=["a  b"], escape="\\")),
    ("# comment\n# escape=`\nFROM a\nRUN a \\\n b", 0, 0, Run, dict(cmd=["a  b"])),
    # -- heredocs -------------------------------------------------------------------------------
    ("FROM a\nRUN <<EOF\necho hello\necho world\nEOF\nRUN after", 0, 0, Run,
     dict(cmd=["<<EOF"], line=2, end_line=5,
          heredocs=[Heredoc(name="EOF", content="echo hello\necho world\n", chomp=False,
                            expand=True, fd=0)])),
    ("FROM a\nRUN <<EOF\necho hello\nEOF\nRUN after", 0, 1, Run, dict(cmd=["after"], line=5)),
    ("FROM a\nRUN <<-EOT\n\t\techo tabs\n\tEOT", 0, 0, Run,
     dict(heredocs=[Heredoc(name="EOT", content="\t\techo tabs\n", chomp=True, expand=True,
                            fd=0)])),
    ("FROM a\nRUN <<'EOF'\necho $HOME\nEOF", 0, 0, Run,
     dict(heredocs=[Heredoc(name="EOF", content="echo $HOME\n", chomp=False, expand=False,
                            fd=0)])),
    ('FROM a\nRUN <<"EOF"\nx\nEOF', 0, 0, Run,
     dict(heredocs=[Heredoc(name="EOF", content="x\n", chomp=False, expand=False, fd=0)])),
    ("FROM a\nRUN python3 <<PY > /out 3<<DATA\nprint(1)\nPY\nd\nDATA", 0, 0, Run,
     dict(cmd=["python3 <<PY > /out 3<<DATA"],
          heredocs=[Heredoc(name="PY", content="print(1)\n", chomp=False, expand=True, fd=0),
                    Heredoc(name="DATA", content="d\n", chomp=False, expand=True, fd=3)])),
    ("FROM a\nRUN <<EOF\nEOF", 0, 0, Run,
     dict(heredocs=[Heredoc(name="EOF", content="", chomp=False, expand=True, fd=0)])),
    ("FROM a\nRUN <<EOF\n  EOF\nEOF", 0, 0, Run,
     dict(heredocs=[Heredoc(name="EOF", content="  EOF\n", chomp=False, expand=True, fd=0)])),
    ("FROM a\nRUN echo a<<b", 0, 0, Run, dict(cmd=["echo a<<b"], heredocs=[])),
    ("FROM a\nRUN echo '<<EOF'", 0, 0, Run, dict(heredocs=[])),
    ('FROM a\nRUN ["cat", "<<EOF"]', 0, 0, Run, dict(cmd=["cat", "<<EOF"], heredocs=[])),
    ("FROM a\nRUN --mount=type=cache,target=/c <<EOF\nmake\nEOF", 0, 0, Run,
     dict(heredocs=[Heredoc(name="EOF", content="make\n", chomp=False, expand=True, fd=0)])),
    ("FROM a\nCOPY <<EOF /etc/motd\nhello $USER\nEOF", 0, 0, Copy,
     dict(sources=[], dest="/etc/motd", end_line=4,
          contents=[Heredoc(name="EOF", content="hello $USER\n", chomp=False, expand=True,
                            fd=0)])),
    ("FROM a\nCOPY <<one.txt <<two.txt /dir/\n1\none.txt\n2\ntwo.txt", 0, 0, Copy,
     dict(contents=[Heredoc(name="one.txt", content="1\n", chomp=False, expand=True, fd=0),
                    Heredoc(name="two.txt", content="2\n", chomp=False, expand=True, fd=0)])),
    ("FROM a\nCOPY --chmod=755 <<-'EOF' real.txt /x/\n\tbody\nEOF", 0, 0, Copy,
     dict(sources=["real.txt"], chmod="755",
          contents=[Heredoc(name="EOF", content="\tbody\n", chomp=True, expand=False, fd=0)])),
    ("FROM a\nADD <<EOF /f\nadd\nEOF", 0, 0, Add,
     dict(contents=[Heredoc(name="EOF", content="add\n", chomp=False, expand=True, fd=0)])),
    ("FROM a\nONBUILD RUN <<EOF\necho x\nEOF", 0, 0, Onbuild,
     dict(expression="RUN <<EOF\necho x\nEOF")),
]


@pytest.mark.parametrize("text,stage,index,cls,expected", GOOD)
def test_good_dockerfiles(text, stage, index, cls, expected):
    df = parse(text)
    st = df.stages[stage]
    inst = st.from_ if index == -1 else st.instructions[index]
    assert type(inst) is cls
    for attr, value in expected.items():
        assert getattr(inst, attr) == value, attr


def test_cmd_is_not_a_heredoc_instruction():
    # only RUN, COPY and ADD take heredocs: the next line is an instruction
    df = parse("FROM a\nCMD cat <<EOF\nRUN true\n")
    assert [i.keyword for i in df.stages[0].instructions] == ["CMD", "RUN"]


def test_structure_of_a_multi_stage_file():
    text = """# syntax=docker/dockerfile:1.7
# check=skip=all
ARG GO=1.22
ARG BASE
FROM golang:${GO} AS build
WORKDIR /src
COPY . .
RUN go build -o /out/app
FROM build AS test
RUN go test ./...
FROM ${BASE:-alpine}
COPY --from=build /out/app /usr/bin/app
ENTRYPOINT ["app"]
"""
    df = parse(text, "Containerfile")
    assert isinstance(df, Dockerfile)
    assert df.filename == "Containerfile"
    assert df.directives == {"syntax": "docker/dockerfile:1.7", "check": "skip=all"}
    assert df.syntax == "docker/dockerfile:1.7"
    assert [a.pairs for a in df.meta_args] == [[("GO", "1.22")], [("BASE", None)]]
    assert [(s.index, s.name, s.image, s.line, s.base_stage) for s in df.stages] == [
        (0, "build", "golang:${GO}", 5, None),
        (1, "test", "build", 9, 0),
        (2, None, "${BASE:-alpine}", 11, None),
    ]
    assert [[i.keyword for i in s.instructions] for s in df.stages] == [
        ["WORKDIR", "COPY", "RUN"], ["RUN"], ["COPY", "ENTRYPOINT"]]
    assert df.step_count == 2 + (1 + 3) + (1 + 1) + (1 + 2)
    assert [str(i) for i in df.steps()][:4] == [
        "ARG GO=1.22", "ARG BASE", "FROM golang:${GO} AS build", "WORKDIR /src"]
    assert df.stage("BUILD").index == 0 and df.stage(2).name is None and df.stage("1").name == "test"
    with pytest.raises(KeyError):
        df.stage("nope")
    assert df.stage_for("build", 2) == 0
    assert df.stage_for("Test", 2) == 1
    assert df.stage_for("1", 2) == 1
    assert df.stage_for("alpine", 2) is None
    assert df.stage_for("test", 1) is None  # not an earlier stage: an image name
    with pytest.raises(InvalidArgument, match="refers to current build stage"):
        df.stage_for("2", 2)
    with pytest.raises(InvalidArgument, match="index out of bounds"):
        df.stage_for("5", 2)
    assert df.warnings == []


def test_bom_crlf_and_no_trailing_newline():
    df = parse("\ufeffFROM a\r\nRUN x\r\nCMD y")
    assert [str(i) for i in df.steps()] == ["FROM a", "RUN x", "CMD y"]


def test_bytes_input_and_parse_file(tmp_path):
    path = tmp_path / "Dockerfile.dev"
    path.write_bytes("FROM a\nLABEL name=\"é\"\n".encode())
    df = parse_file(str(path))
    assert df.filename == "Dockerfile.dev"
    assert df.stages[0].instructions[0].pairs == [("name", '"é"')]
    assert parse(b"FROM a\n").stages[0].image == "a"


def test_empty_continuation_line_warns():
    df = parse("FROM a\nRUN a \\\n\n  b\n")
    assert len(df.warnings) == 1 and df.warnings[0].startswith("Dockerfile:2: empty continuation")


def test_run_shell_script_with_heredocs():
    df = parse("FROM a\nRUN <<EOF\necho 1\nEOF\nRUN <<-EOF\n\techo 2\n\tEOF\n"
               "RUN cat <<A <<B\na\nA\nb\nB\nRUN <<EOF\n#!/usr/bin/env python3\nprint(1)\nEOF\n"
               'RUN ["echo"]\nRUN plain\n')
    runs = df.stages[0].instructions
    assert runs[0].shell_script() == "echo 1\n" and runs[0].shebang_heredoc() is None
    assert runs[1].shell_script() == "echo 2\n"
    assert runs[2].shell_script() == "cat <<A <<B\na\nA\nb\nB"
    assert runs[3].shebang_heredoc().name == "EOF"
    assert runs[4].shell_script() is None
    assert runs[5].shell_script() == "plain"


def test_run_mounts_are_parsed():
    run = parse("FROM a\nRUN --mount=type=cache,target=/c,sharing=locked "
                "--mount=type=secret,id=tok,required --mount=target=/src,ro true\n"
                ).stages[0].instructions[0]
    assert [(m.type, m.target, m.readonly) for m in run.mounts] == [
        ("cache", "/c", None), ("secret", None, None), ("bind", "/src", True)]
    assert run.mounts[0].options == {"type": "cache", "target": "/c", "sharing": "locked"}
    assert run.mounts[1].options["required"] == "true"


def test_onbuild_trigger_is_parsed():
    inst = parse("FROM a\nONBUILD COPY --from=x a b\n").stages[0].instructions[0]
    assert isinstance(inst.trigger, Copy) and inst.trigger.from_ == "x"
    assert inst.trigger.line == 2


def test_instruction_records():
    a = parse("FROM a\nENV A=1\n").stages[0].instructions[0]
    b = parse("FROM a\nENV A=1\n").stages[0].instructions[0]
    assert a == b and a is not b
    assert a.replace(pairs=[("B", "2")]).pairs == [("B", "2")] and a.pairs == [("A", "1")]
    assert "Env(" in repr(a)
    assert a.expands and not Cmd.expands
    with pytest.raises(TypeError):
        a.replace(nope=1)


# -- wrong Dockerfiles: (text, expected message, exactly as str(error)) ----------------------
BAD = [
    ("", "Dockerfile: the Dockerfile cannot be empty"),
    ("  \n\n\t\n", "Dockerfile: the Dockerfile cannot be empty"),
    ("# only a comment\n\n# and another\n", "Dockerfile:3: file with no instructions"),
    ("ARG A=1\n", "Dockerfile: dockerfile contains no stages to build"),
    ("RUN echo hi\n", "Dockerfile:1: no build stage in current context"),
    ("ARG X\nENV A=1\nFROM a\n", "Dockerfile:2: no build stage in current context"),
    ("FROM a\n\n\n\n\n\nFOO bar\n", "Dockerfile:7: unknown instruction: FOO"),
    ("FROM a\ncopyy a b\n", "Dockerfile:2: unknown instruction: copyy (did you mean COPY?)"),
    ("FROM a\nRUN ok\n  WORKDI /x\n", "Dockerfile:3: unknown instruction: WORKDI (did you mean WORKDIR?)"),
    # directives
    ("# escape=x\nFROM a\n", "Dockerfile:1: invalid escape token 'x' does not match ` or \\\\"),
    ("# escape=`\n# escape=`\nFROM a\n", "Dockerfile:2: only one escape parser directive can be used"),
    ("# syntax=a\n# SYNTAX=b\nFROM a\n", "Dockerfile:2: only one syntax parser directive can be used"),
    # FROM
    ("FROM\n", "Dockerfile:1: FROM requires either one or three arguments"),
    ("FROM a b\n", "Dockerfile:1: FROM requires either one or three arguments"),
    ("FROM a AS\n", "Dockerfile:1: FROM requires either one or three arguments"),
    ("FROM a IS b\n", "Dockerfile:1: FROM requires either one or three arguments"),
    ("FROM a AS 1st\n", 'Dockerfile:1: invalid name for build stage: "1st", name can\'t start '
                        "with a number or contain symbols"),
    ("FROM a AS my$stage\n", 'Dockerfile:1: invalid name for build stage: "my$stage", name '
                             "can't start with a number or contain symbols"),
    ("FROM --platform a\n", "Dockerfile:1: Missing a value on flag: platform"),
    ("FROM --platform linux a\n", "Dockerfile:1: FROM requires either one or three arguments"),
    ("FROM a AS x\nRUN true\nFROM b AS X\n", "Dockerfile:3: x stage name already used"),
    # flags
    ("FROM a\nCOPY --chwn=1 a b\n", "Dockerfile:2: Unknown flag: chwn (did you mean chown?)"),
    ("FROM a\nADD --from=x a b\n", "Dockerfile:2: Unknown flag: from"),
    ("FROM a\nRUN --foo=bar true\n", "Dockerfile:2: Unknown flag: foo"),
    ("FROM a\nENV --x=1 A=1\n", "Dockerfile:2: Unknown flag: x"),
    ("FROM a\nCOPY --chown=1 --chown=2 a b\n", "Dockerfile:2: Duplicate flag specified: chown"),
    ("FROM a\nCOPY --link=maybe a b\n", "Dockerfile:2: Expecting boolean value for flag link, not: maybe"),
    ("FROM a\nCOPY --link= a b\n", "Dockerfile:2: Missing a value on flag: link"),
    ("FROM a\nCOPY --from a b c\n", "Dockerfile:2: Missing a value on flag: from"),
    ("FROM a\nRUN --network=bridge true\n", 'Dockerfile:2: unsupported network mode "bridge"'),
    ("FROM a\nRUN --security=root true\n", 'Dockerfile:2: unsupported security mode "root"'),
    ("FROM a\nRUN --mount=type=cache,target=/c,bogus=1 true\n",
     "Dockerfile:2: unexpected key 'bogus' in 'bogus=1'"),
    ("FROM a\nRUN --mount=type=volume,target=/c true\n",
     'Dockerfile:2: unsupported mount type "volume"'),
    ("FROM a\nRUN --mount=type=cache,sharing=maybe,target=/c true\n",
     'Dockerfile:2: unsupported sharing value "maybe"'),
    ("FROM a\nRUN --mount=type=bind,from=$X,target=/c true\n",
     "Dockerfile:2: 'from' doesn't support variable expansion, define alias stage instead"),
    ("FROM a\nRUN --mount=type=cache,target=/c,exclusive true\n",
     "Dockerfile:2: invalid field 'exclusive' must be a key=value pair"),
    ("FROM a\nRUN --mount=type=cache,required,target=/c true\n",
     "Dockerfile:2: unexpected key 'required' for mount type 'cache'"),
    # COPY / ADD
    ("FROM a\nCOPY onlyone\n", "Dockerfile:2: COPY requires at least two arguments, but only "
                               "one was provided. Destination could not be determined"),
    ("FROM a\nADD\n", "Dockerfile:2: ADD requires at least two arguments, but only one was "
                      "provided. Destination could not be determined"),
    ('FROM a\nCOPY ["only"]\n', "Dockerfile:2: COPY requires at least two arguments, but only "
                                "one was provided. Destination could not be determined"),
    ('FROM a\nCOPY ["a", 1]\n', "Dockerfile:2: when using JSON array syntax, arrays must be "
                                "comprised of strings only"),
    ("FROM a\nCOPY a <<EOF\nx\nEOF\n", "Dockerfile:2: COPY cannot accept a heredoc as a destination"),
    # COPY --from between stages
    ("FROM a AS self\nCOPY --from=self a b\n", "Dockerfile:2: circular dependency detected on stage: self"),
    ("FROM a AS one\nCOPY --from=two a b\nFROM b AS two\n",
     "Dockerfile:2: COPY --from=two refers to stage 'two' defined later (line 3); a stage can "
     "only copy from an earlier one"),
    ("FROM a\nCOPY --from=0 a b\n", "Dockerfile:2: invalid from flag value 0: refers to current build stage"),
    ("FROM a\nFROM b\nCOPY --from=2 a b\n", "Dockerfile:3: invalid from flag value 2: index out of bounds"),
    ("FROM a\nCOPY --from=-1 a b\n", "Dockerfile:2: invalid from flag value -1: index out of bounds"),
    # ENV / LABEL / ARG
    ("FROM a\nENV\n", "Dockerfile:2: ENV requires at least one argument"),
    ("FROM a\nENV ONLYNAME\n", "Dockerfile:2: ENV must have two arguments"),
    ("FROM a\n\nENV =value\n", "Dockerfile:3: ENV names can not be blank"),
    ("FROM a\nENV A=1 B\n", 'Dockerfile:2: Syntax error - can\'t find = in "B". Must be of the '
                            "form: name=value"),
    ("FROM a\nLABEL\n", "Dockerfile:2: LABEL requires at least one argument"),
    ("FROM a\nLABEL =x\n", "Dockerfile:2: LABEL names can not be blank"),
    ("FROM a\nLABEL k\n", "Dockerfile:2: LABEL must have two arguments"),
    ("FROM a\nARG\n", "Dockerfile:2: ARG requires at least one argument"),
    ("ARG =x\nFROM a\n", "Dockerfile:1: ARG names can not be blank"),
    # single-argument instructions
    ("FROM a\nWORKDIR\n", "Dockerfile:2: WORKDIR requires exactly one argument"),
    ("FROM a\nUSER\n", "Dockerfile:2: USER requires exactly one argument"),
    ("FROM a\nSTOPSIGNAL\n", "Dockerfile:2: STOPSIGNAL requires exactly one argument"),
    ("FROM a\nMAINTAINER\n", "Dockerfile:2: MAINTAINER requires exactly one argument"),
    ("FROM a\nEXPOSE\n", "Dockerfile:2: EXPOSE requires at least one argument"),
    ("FROM a\nVOLUME\n", "Dockerfile:2: VOLUME requires at least one argument"),
    ('FROM a\nVOLUME ["/a", " "]\n', "Dockerfile:2: VOLUME specified can not be an empty string"),
    # exec form
    ('FROM a\nRUN ["echo", 1]\n', "Dockerfile:2: when using JSON array syntax, arrays must be "
                                  "comprised of strings only"),
    ('FROM a\nCMD ["a", null]\n', "Dockerfile:2: when using JSON array syntax, arrays must be "
                                  "comprised of strings only"),
    ("FROM a\nSHELL /bin/bash -c\n", "Dockerfile:2: SHELL requires the arguments to be in JSON form"),
    ("FROM a\nSHELL []\n", "Dockerfile:2: SHELL requires at least one argument"),
    ("FROM a\nSHELL\n", "Dockerfile:2: SHELL requires at least one argument"),
    # HEALTHCHECK
    ("FROM a\nHEALTHCHECK\n", "Dockerfile:2: HEALTHCHECK requires at least one argument"),
    ("FROM a\nHEALTHCHECK NONE x\n", "Dockerfile:2: HEALTHCHECK NONE takes no arguments"),
    ("FROM a\nHEALTHCHECK CMD\n", "Dockerfile:2: Missing command after HEALTHCHECK CMD"),
    ("FROM a\nHEALTHCHECK RUN x\n", 'Dockerfile:2: Unknown type "RUN" in HEALTHCHECK (try CMD)'),
    ("FROM a\nHEALTHCHECK --interval=abc CMD x\n", 'Dockerfile:2: time: invalid duration "abc"'),
    ("FROM a\nHEALTHCHECK --interval=5 CMD x\n", 'Dockerfile:2: time: missing unit in duration "5"'),
    ("FROM a\nHEALTHCHECK --timeout=1d CMD x\n",
     'Dockerfile:2: time: unknown unit "d" in duration "1d"'),
    ("FROM a\nHEALTHCHECK --interval=100us CMD x\n",
     'Dockerfile:2: Interval "interval" cannot be less than 1ms'),
    ("FROM a\nHEALTHCHECK --start-period=-1s CMD x\n",
     'Dockerfile:2: Interval "start-period" cannot be less than 1ms'),
    ("FROM a\nHEALTHCHECK --retries=-1 CMD x\n", "Dockerfile:2: --retries cannot be negative (-1)"),
    ("FROM a\nHEALTHCHECK --retries=two CMD x\n",
     'Dockerfile:2: strconv.ParseInt: parsing "two": invalid syntax'),
    ("FROM a\nHEALTHCHECK --port=1 CMD x\n", "Dockerfile:2: Unknown flag: port"),
    # ONBUILD
    ("FROM a\nONBUILD\n", "Dockerfile:2: ONBUILD requires at least one argument"),
    ("FROM a\nONBUILD ONBUILD RUN x\n",
     "Dockerfile:2: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
    ("FROM a\nONBUILD FROM b\n", "Dockerfile:2: FROM isn't allowed as an ONBUILD trigger"),
    ("FROM a\nONBUILD maintainer me\n", "Dockerfile:2: MAINTAINER isn't allowed as an ONBUILD trigger"),
    ("FROM a\nONBUILD NOPE x\n", "Dockerfile:2: unknown instruction: NOPE"),
    ("FROM a\nONBUILD COPY --bad=1 a b\n", "Dockerfile:2: Unknown flag: bad"),
    # heredocs
    ("FROM a\nRUN <<EOF\necho never ends\n", "Dockerfile:2: unterminated heredoc"),
    ("FROM a\nRUN <<A <<B\na\nA\nb\n", "Dockerfile:2: unterminated heredoc"),
    ("FROM a\nRUN <<-EOF\n  EOF\n", "Dockerfile:2: unterminated heredoc"),
    # the line reported is where the instruction starts
    ("FROM a\nRUN a \\\n  b \\\n  c\nCOPY x\n", "Dockerfile:5: COPY requires at least two "
     "arguments, but only one was provided. Destination could not be determined"),
]


@pytest.mark.parametrize("text,message", BAD)
def test_bad_dockerfiles(text, message):
    with pytest.raises(DockerfileError) as info:
        parse(text)
    assert str(info.value) == message
    assert isinstance(info.value, InvalidArgument)
    assert info.value.filename == "Dockerfile"


def test_error_attributes_and_filename():
    with pytest.raises(DockerfileError) as info:
        parse("FROM a\nBOGUS\n", filename="build/Dockerfile.ci")
    err = info.value
    assert (err.filename, err.line, err.reason) == ("build/Dockerfile.ci", 2, "unknown instruction: BOGUS")
    assert str(err) == "build/Dockerfile.ci:2: unknown instruction: BOGUS"


# -- helpers -------------------------------------------------------------------------------------
DURATIONS = [
    ("0", 0), ("1ns", 1), ("1us", 1000), ("1µs", 1000), ("1ms", 10**6), ("1s", SEC),
    ("1.5s", 1500 * 10**6), ("1m", 60 * SEC), ("1h", 3600 * SEC), ("1h2m3s", 3723 * SEC),
    (".5s", SEC // 2), ("1.s", SEC), ("+2s", 2 * SEC), ("-2s", -2 * SEC), ("100ms", SEC // 10),
]


@pytest.mark.parametrize("text,ns", DURATIONS)
def test_parse_duration(text, ns):
    assert parse_duration(text) == ns


@pytest.mark.parametrize("text", ["", "s", "1", ".s", "1x", "1s2", "--1s", "9999999999999h"])
def test_parse_duration_errors(text):
    with pytest.raises(ValueError, match="^time: "):
        parse_duration(text)


HEREDOC_WORDS = [
    ("<<EOF", ("EOF", False, True, 0)),
    ("<<-EOF", ("EOF", True, True, 0)),
    ("<<'EOF'", ("EOF", False, False, 0)),
    ('<<-"E O F"', ("E O F", True, False, 0)),
    ("<<E'O'F", ("EOF", False, False, 0)),
    ("2<<ERR", ("ERR", False, True, 2)),
    ("<<", None),
    ("<<<EOF", None),
    ("a<<EOF", None),
    ("EOF", None),
]


@pytest.mark.parametrize("word,expected", HEREDOC_WORDS)
def test_parse_heredoc(word, expected):
    h = parse_heredoc(word)
    if expected is None:
        assert h is None
    else:
        assert (h.name, h.chomp, h.expand, h.fd) == expected


# (heredoc opening as written, body lines, expected (name, content, chomp, expand, fd))
HEREDOC_FORMS = [
    ("<<EMPTY", ["EMPTY"], ("EMPTY", "", False, True, 0)),
    ("3<<FD", ["FD"], ("FD", "", False, True, 3)),
    ("<<INDENT", ["\tfoo", "INDENT"], ("INDENT", "\tfoo\n", False, True, 0)),
    ("<<-UNINDENT", ["\tbaz", "UNINDENT"], ("UNINDENT", "\tbaz\n", True, True, 0)),
    ("<<-UNINDENT2", ["\tbaz", "\tUNINDENT2"], ("UNINDENT2", "\tbaz\n", True, True, 0)),
    ("<<-'NOEXPAND'", ["\tdon't $X", "NOEXPAND"], ("NOEXPAND", "\tdon't $X\n", True, False, 0)),
    ("<<COMMENT", ["# kept", "x # kept", "COMMENT"], ("COMMENT", "# kept\nx # kept\n", False, True, 0)),
    ("<<eo'f'", ["x", "eof"], ("eof", "x\n", False, False, 0)),
    ("<<eo\\'f", ["x", "eo'f"], ("eo'f", "x\n", False, True, 0)),
    ("<<'e'o\\'f", ["x", "eo'f"], ("eo'f", "x\n", False, False, 0)),
    ("<<'one two'", ["x", "one two"], ("one two", "x\n", False, False, 0)),
    ("<<$EOF", ["$EOF"], ("$EOF", "", False, True, 0)),
    ("<<  EOF", ["EOF"], ("EOF", "", False, True, 0)),
    ("<<  EOF  > /out", ["EOF"], ("EOF", "", False, True, 0)),
    ("<<- EOF", ["\tEOF"], ("EOF", "", True, True, 0)),
    ("<< -EOF", ["-EOF"], ("-EOF", "", False, True, 0)),
    ("<<COMPLEX python3", ["print(1)", "COMPLEX"], ("COMPLEX", "print(1)\n", False, True, 0)),
]


@pytest.mark.parametrize("opening,body,expected", HEREDOC_FORMS)
def test_heredoc_forms(opening, body, expected):
    df = parse("FROM a\nRUN " + opening + "\n" + "\n".join(body) + "\nRUN next\n")
    run, after = df.stages[0].instructions
    (h,) = run.heredocs
    assert (h.name, h.content, h.chomp, h.expand, h.fd) == expected
    assert after.cmd == ["next"] and after.line == 3 + len(body)


def test_heredoc_bodies_read_in_order():
    # each body ends at its own delimiter only
    df = parse("FROM a\nCOPY <<X <<Y /dest\nY\nX\nX\nY\n")
    assert [(h.name, h.content) for h in df.stages[0].instructions[0].contents] == [
        ("X", "Y\n"), ("Y", "X\n")]


@pytest.mark.parametrize("word", ["<<'EOF", '<<"EOF', "<<EOF'", '<<EOF"'])
def test_parse_heredoc_unbalanced_quotes(word):
    with pytest.raises(InvalidArgument):
        parse_heredoc(word)
