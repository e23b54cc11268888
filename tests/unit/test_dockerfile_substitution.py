"""Docker's variable substitution and word splitting (layerbox.builder.shellwords)."""

import pytest

from layerbox.builder.dockerfile import parse
from layerbox.builder.shellwords import (
    ShellLex, SubstitutionError, env_mapping, expand, expand_heredoc, expand_words,
)
from layerbox.errors import InvalidArgument

ENV = {
    "PWD": "/home",
    "SHELL": "bash",
    "KOREAN": "한국어",
    "FOO": "foo",
    "SPACED": "a  b",
    "EMPTY": "",
    "X": "abcabc",
    "PATHV": "/usr/local/bin/app.tar.gz",
    "STAR": "*",
}

# (word, expected after expand) -- one word, no splitting
WORDS = [
    # plain text and quotes
    ("hello", "hello"),
    ("he'll'o", "hello"),
    ('he"ll"o', "hello"),
    ("'hello world'", "hello world"),
    ('"hello world"', "hello world"),
    ("  spaces  kept  ", "  spaces  kept  "),
    ("''", ""),
    ('""', ""),
    ("'$PWD'", "$PWD"),
    ('"$PWD"', "/home"),
    ("'\"'", '"'),
    ("\"'\"", "'"),
    # $VAR and ${VAR}
    ("$PWD", "/home"),
    ("${PWD}", "/home"),
    ("$PWD/x", "/home/x"),
    ("${PWD}x", "/homex"),
    ("$PWDx", ""),
    ("$NOPE", ""),
    ("${NOPE}", ""),
    ("$KOREAN", "한국어"),
    ("$FOO$FOO", "foofoo"),
    ("a$", "a$"),
    ("$", "$"),
    ("$ x", "$ x"),
    ("$/", "$/"),
    ("$1", ""),
    ("$12x", "x"),
    ("$@", ""),
    ("$$", ""),
    ("${EMPTY}", ""),
    # :- and -
    ("${NOPE:-def}", "def"),
    ("${NOPE-def}", "def"),
    ("${EMPTY:-def}", "def"),
    ("${EMPTY-def}", ""),
    ("${FOO:-def}", "foo"),
    ("${FOO-def}", "foo"),
    ("${NOPE:-}", ""),
    # :+ and +
    ("${FOO:+alt}", "alt"),
    ("${FOO+alt}", "alt"),
    ("${EMPTY:+alt}", ""),
    ("${EMPTY+alt}", "alt"),
    ("${NOPE:+alt}", ""),
    ("${NOPE+alt}", ""),
    # :? and ? when the variable is fine
    ("${FOO:?oops}", "foo"),
    ("${EMPTY?oops}", ""),
    # nesting and quoting inside the word
    ("${NOPE:-${FOO}}", "foo"),
    ("${NOPE:-${NOPE2:-deep}}", "deep"),
    ("${NOPE:-$PWD/bin}", "/home/bin"),
    ('${NOPE:-"x  y"}', "x  y"),
    ("${NOPE:-'$FOO'}", "$FOO"),
    ("${FOO:+${PWD}}", "/home"),
    (r"${NOPE:-a\}b}", "a}b"),
    # prefix / suffix removal
    ("${X#a}", "bcabc"),
    ("${X#a*}", "bcabc"),
    ("${X##a*}", ""),
    ("${X#*b}", "cabc"),
    ("${X##*b}", "c"),
    ("${X%c}", "abcab"),
    ("${X%b*}", "abca"),
    ("${X%%b*}", "a"),
    ("${PATHV##*/}", "app.tar.gz"),
    ("${PATHV%/*}", "/usr/local/bin"),
    ("${PATHV%%.*}", "/usr/local/bin/app"),
    ("${PATHV#*.}", "tar.gz"),
    ("${X#zz}", "abcabc"),
    ("${NOPE#a}", ""),
    ("${X#?}", "bcabc"),
    # replacement
    ("${X/b/B}", "aBcabc"),
    ("${X//b/B}", "aBcaBc"),
    ("${X/b*/B}", "aB"),
    ("${X//c/}", "abab"),
    ("${X/zz/B}", "abcabc"),
    ("${PATHV//\\//:}", ":usr:local:bin:app.tar.gz"),
    # escapes outside quotes
    (r"\$PWD", "$PWD"),
    (r"\${PWD}", "${PWD}"),
    (r"a\ b", "a b"),
    (r"\'quoted\'", "'quoted'"),
    (r"\"", '"'),
    (r"\\", "\\"),
    (r"a\b", "ab"),
    ("trailing\\", "trailing"),
    # escapes inside double quotes: only \" \$ \\ are escapes
    (r'"a\"b"', 'a"b'),
    (r'"\$PWD"', "$PWD"),
    (r'"a\\b"', "a\\b"),
    (r'"a\b"', "a\\b"),
    (r'"a\nb"', "a\\nb"),
    # escapes inside single quotes do nothing
    (r"'a\b'", "a\\b"),
    (r"'\$PWD'", "\\$PWD"),
    # variable values are not re-processed
    ("$STAR", "*"),
    ("${SPACED}", "a  b"),
]


@pytest.mark.parametrize("word,expected", WORDS)
def test_expand(word, expected):
    assert expand(word, ENV) == expected


# (word, expected words) -- docker's ProcessWords (EXPOSE)
SPLITS = [
    ("a b c", ["a", "b", "c"]),
    ("  a   b  ", ["a", "b"]),
    ("", []),
    ("   ", []),
    ('"a b" c', ["a b", "c"]),
    ("'a b' c", ["a b", "c"]),
    ('a" "b', ["a b"]),
    (r"a\ b c", ["a b", "c"]),
    ("$SPACED", ["a", "b"]),
    ('"$SPACED"', ["a  b"]),
    ("x$SPACED", ["xa", "b"]),
    ("$EMPTY", []),
    ('""', []),
    ('"" a', ["a"]),
    ("$FOO$PWD", ["foo/home"]),
    ("${NOPE:-80 443}", ["80", "443"]),
    ("80/tcp $NOPE 443/udp", ["80/tcp", "443/udp"]),
    ('${NOPE:-"x  y"}z', ["x", "yz"]),  # a ${}'s value is split even if quoted inside
]


@pytest.mark.parametrize("word,expected", SPLITS)
def test_expand_words(word, expected):
    assert expand_words(word, ENV) == expected


# (word, part of the error message)
ERRORS = [
    ("${NOPE:?}", "NOPE: is not allowed to be unset"),
    ("${NOPE?}", "NOPE: is not allowed to be unset"),
    ("${EMPTY:?}", "EMPTY: is not allowed to be empty"),
    ("${NOPE:?custom message}", "NOPE: custom message"),
    ("${EMPTY:?must be set}", "EMPTY: must be set"),
    ("'unterminated", "unexpected end of statement while looking for matching single-quote"),
    ('"unterminated', "unexpected end of statement while looking for matching double-quote"),
    ('"trailing escape\\', "matching double-quote"),
    ("${", "syntax error: missing '}'"),
    ("${FOO", "syntax error: missing '}'"),
    ("${FOO:-x", "syntax error: missing '}'"),
    ("${}", "syntax error: bad substitution"),
    ("${:}", "syntax error: bad substitution"),
    ("${{FOO}}", "syntax error: bad substitution"),
    ("${FOO:x}", "unsupported modifier (:x) in substitution"),
    ("${FOO x}", "unsupported modifier ( ) in substitution"),
    ("${FOO/x}", "syntax error: missing '/' in ${}"),
    ("${FOO/x/y", "syntax error: missing '}'"),
    (r"${X#\a}", "invalid escape"),
]


@pytest.mark.parametrize("word,message", ERRORS)
def test_expand_errors(word, message):
    with pytest.raises(SubstitutionError) as info:
        expand(word, ENV)
    assert message in str(info.value)
    assert str(info.value).startswith("failed to process ")
    assert isinstance(info.value, InvalidArgument)
    assert info.value.word == word


def test_error_message_quotes_the_word_like_go():
    with pytest.raises(SubstitutionError) as info:
        expand('"x', {})
    assert str(info.value) == ('failed to process "\\"x": unexpected end of statement '
                               "while looking for matching double-quote")


# the escape character is the Dockerfile's (# escape=`)
BACKTICK = [
    ("`$PWD", "$PWD"),
    (r"C:\path\to", r"C:\path\to"),
    ('"a`"b"', 'a"b'),
    ("a` b", "a b"),
    ("$PWD\\x", "/home\\x"),
]


@pytest.mark.parametrize("word,expected", BACKTICK)
def test_backtick_escape(word, expected):
    assert expand(word, ENV, escape="`") == expected


def test_env_as_docker_list():
    env = ["A=1", "B=x=y", "C", "A=2"]
    assert expand("$A-$B-[$C]-${C-unset}", env) == "2-x=y-[]-"
    assert env_mapping(None) == {}
    assert env_mapping(["K=V"]) == {"K": "V"}


def test_lookup_is_case_sensitive():
    assert expand("$foo", {"FOO": "x"}) == ""


def test_lexer_options():
    env = {"A": "1"}
    assert ShellLex(raw_quotes=True).process_word("'$A' \"$A\"", env) == "'$A' \"1\""
    assert ShellLex(raw_escapes=True).process_word(r"\$A", env) == r"\$A"
    assert ShellLex(skip_unset_env=True).process_word("$A $B ${C} ${D:-x}", env) == "1 $B ${C} ${D:-x}"
    assert ShellLex(skip_process_quotes=True).process_word("'$A' \"$A\"", env) == "'1' \"1\""
    result = ShellLex().process("$A $B ${C:-$A}", env)
    assert result.matched == {"A"} and result.unmatched == {"B", "C"}
    with pytest.raises(ValueError):
        ShellLex("ab")


def test_heredoc_body_expansion_keeps_quotes():
    body = "echo '$A' \"$A\" \\$A\n"
    assert expand_heredoc(body, {"A": "x"}) == "echo 'x' \"x\" $A\n"


# -- ENV / ARG / LABEL semantics within one instruction and across steps ---------------------
def _stage_instructions(text):
    return parse(text).stages[0].instructions


def test_env_same_line_uses_previous_values():
    # docker documents this: def gets hello, ghi gets bye
    insts = _stage_instructions("FROM scratch\nENV abc=hello\nENV abc=bye def=$abc\nENV ghi=$abc\n")
    env = {}
    results = []
    for inst in insts:
        expanded = inst.expanded(env)
        for k, v in expanded.pairs:  # the builder applies the pairs after expanding them all
            env[k] = v
        results.append(expanded.pairs)
    assert results == [[("abc", "hello")], [("abc", "bye"), ("def", "hello")], [("ghi", "bye")]]


ENV_CASES = [
    # (ENV line, env before, expected pairs)
    ('ENV A="a b"', {}, [("A", "a b")]),
    ("ENV A='$X'", {"X": "1"}, [("A", "$X")]),
    ('ENV A="$X"', {"X": "1"}, [("A", "1")]),
    ("ENV A=$X B=${X:-d} C=${Y:-d}", {"X": "1"}, [("A", "1"), ("B", "1"), ("C", "d")]),
    ("ENV A a b  c", {}, [("A", "a b  c")]),
    ('ENV A "quoted value"', {}, [("A", "quoted value")]),
    ("ENV $K=v", {"K": "NAME"}, [("NAME", "v")]),
    (r"ENV A=a\ b", {}, [("A", "a b")]),
    (r"ENV A=\$X", {"X": "1"}, [("A", "$X")]),
    ("ENV A=", {}, [("A", "")]),
    ('ENV A=""', {}, [("A", "")]),
    ("ENV PATH=/x:$PATH", {"PATH": "/bin"}, [("PATH", "/x:/bin")]),
]


@pytest.mark.parametrize("line,env,expected", ENV_CASES)
def test_env_expansion(line, env, expected):
    inst = _stage_instructions("FROM scratch\n" + line + "\n")[0]
    assert inst.expanded(env).pairs == expected


def test_label_and_arg_expansion():
    insts = _stage_instructions('FROM scratch\nLABEL "a b"="$V" c=${V}x\nARG N=$V M\n')
    assert insts[0].expanded({"V": "1"}).pairs == [("a b", "1"), ("c", "1x")]
    assert insts[1].expanded({"V": "1"}).pairs == [("N", "1"), ("M", None)]


def test_instructions_docker_does_not_expand():
    text = ("FROM scratch\nRUN echo $A\nCMD echo $A\nENTRYPOINT [\"$A\"]\nSHELL [\"$A\"]\n"
            "MAINTAINER $A\nHEALTHCHECK CMD $A\nONBUILD RUN $A\n")
    for inst in _stage_instructions(text):
        assert inst.expanded({"A": "x"}) == inst
        assert "$A" in inst.original


EXPANDED = [
    # (instruction, env, attribute, expected)
    ("WORKDIR $D/sub", {"D": "/app"}, "path", "/app/sub"),
    ("WORKDIR ${D:-/default}", {}, "path", "/default"),
    ("USER ${U}:${G}", {"U": "app", "G": "staff"}, "user", "app:staff"),
    ("STOPSIGNAL $S", {"S": "SIGTERM"}, "signal", "SIGTERM"),
    ("VOLUME $V /other", {"V": "/data"}, "paths", ["/data", "/other"]),
    ('VOLUME ["$V"]', {"V": "/data"}, "paths", ["/data"]),
    ("EXPOSE $PORTS 53/udp", {"PORTS": "80 443"}, "ports", ["80", "443", "53/udp"]),
    ("COPY $SRC ${DEST:-/app}/", {"SRC": "a.txt"}, "sources", ["a.txt"]),
    ("COPY $SRC ${DEST:-/app}/", {"SRC": "a.txt"}, "dest", "/app/"),
    ("COPY --chown=$U:$G --chmod=$M a b", {"U": "1", "G": "2", "M": "644"}, "chown", "1:2"),
    ("COPY --chown=$U:$G --chmod=$M a b", {"U": "1", "G": "2", "M": "644"}, "chmod", "644"),
    ('COPY ["$A", "/d"]', {"A": "x y"}, "sources", ["x y"]),
    ("ADD --checksum=$SUM https://x/y /z", {"SUM": "sha256:aa"}, "checksum", "sha256:aa"),
    ("COPY --exclude=$E . /", {"E": "*.md"}, "exclude", ["*.md"]),
]


@pytest.mark.parametrize("line,env,attr,expected", EXPANDED)
def test_expanded_instructions(line, env, attr, expected):
    inst = _stage_instructions("FROM scratch\n" + line + "\n")[0]
    assert getattr(inst.expanded(env), attr) == expected
    # the parsed instruction itself stays unexpanded
    assert "$" in repr(getattr(inst, attr)) or attr == "exclude" or "$" in inst.original


def test_from_expands_with_meta_args_only():
    df = parse("ARG TAG=3.19\nARG NOPE\nFROM alpine:$TAG AS base\nFROM --platform=$P ${IMG:-base}\n")
    assert df.stages[0].from_.expanded({"TAG": "3.19"}).image == "alpine:3.19"
    second = df.stages[1].from_.expanded({"P": "linux/arm64"})
    assert second.image == "base" and second.platform == "linux/arm64"
    assert df.stage_for(second.image, 1) == 0


def test_from_blank_after_expansion():
    df = parse("ARG IMG\nFROM $IMG\n")
    with pytest.raises(InvalidArgument) as info:
        df.stages[0].from_.expanded({})
    assert str(info.value) == "Dockerfile:2: base name ($IMG) should not be blank"


def test_copy_from_expands_only_with_meta_env():
    inst = parse("FROM scratch\nFROM scratch\nCOPY --from=$S a b\n").stages[1].instructions[0]
    assert inst.expanded({"S": "stage-env"}).from_ == "$S"
    assert inst.expanded({"S": "stage-env"}, meta_env={"S": "0"}).from_ == "0"


def test_copy_heredoc_expansion_follows_the_delimiter_quoting():
    text = 'FROM scratch\nCOPY <<EOF <<"RAW" /d/\n$A "q"\nEOF\n$A\nRAW\n'
    inst = _stage_instructions(text)[0]
    got = inst.expanded({"A": "x"})
    assert [(h.name, h.content) for h in got.contents] == [("EOF", 'x "q"\n'), ("RAW", "$A\n")]


def test_expansion_errors_are_located():
    inst = _stage_instructions("FROM scratch\n\nWORKDIR ${D:?need D}\n")[0]
    with pytest.raises(InvalidArgument) as info:
        inst.expanded({})
    assert str(info.value) == 'Dockerfile:3: failed to process "${D:?need D}": D: need D'


def test_stopsignal_checked_after_expansion():
    inst = _stage_instructions("FROM scratch\nSTOPSIGNAL $S\n")[0]
    assert inst.expanded({"S": "9"}).signal == "9"
    assert inst.expanded({"S": "sigkill"}).signal == "sigkill"
    with pytest.raises(InvalidArgument, match=r"Dockerfile:2: Invalid signal: SIGNOPE"):
        inst.expanded({"S": "SIGNOPE"})


def test_run_mount_values_are_expanded():
    inst = _stage_instructions("FROM scratch\nRUN --mount=type=$T,target=$D,id=c echo\n")[0]
    mount = inst.expanded({"T": "cache", "D": "/root/.cache"}).mounts[0]
    assert (mount.type, mount.target, mount.options["id"]) == ("cache", "/root/.cache", "c")
    with pytest.raises(InvalidArgument, match='unsupported mount type "nope"'):
        inst.expanded({"T": "nope", "D": "/x"})


def test_volume_empty_after_expansion():
    inst = _stage_instructions("FROM scratch\nVOLUME $V\n")[0]
    with pytest.raises(InvalidArgument, match="VOLUME specified can not be an empty string"):
        inst.expanded({"V": ""})
