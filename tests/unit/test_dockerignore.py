""".dockerignore reading, matching and build-context listing; Go's filepath.Match."""

import os

import pytest

from layerbox.builder.dockerignore import (
    Matcher, context_files, parse_dockerignore, read_dockerignore,
)
from layerbox.builder.fnmatch_go import BadPattern, go_clean, go_match, has_magic
from layerbox.errors import InvalidArgument

# -- Go's filepath.Match ---------------------------------------------------------------------
GO_MATCH = [
    ("abc", "abc", True),
    ("*", "abc", True),
    ("*c", "abc", True),
    ("a*", "a", True),
    ("a*", "abc", True),
    ("a*", "ab/c", False),
    ("a*/b", "abc/b", True),
    ("a*/b", "a/c/b", False),
    ("a*b*c*d*e*/f", "axbxcxdxe/f", True),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/f", True),
    ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", False),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", False),
    ("a*b?c*x", "abxbbxdbxebxczzx", True),
    ("a*b?c*x", "abxbbxdbxebxczzy", False),
    ("ab[c]", "abc", True),
    ("ab[b-d]", "abc", True),
    ("ab[e-g]", "abc", False),
    ("ab[^c]", "abc", False),
    ("ab[^b-d]", "abc", False),
    ("ab[^e-g]", "abc", True),
    ("ab[!c]", "ab!", True),  # Go negates with ^ only: [!c] is the class {!, c}
    ("ab[!c]", "abd", False),
    ("a\\*b", "a*b", True),
    ("a\\*b", "ab", False),
    ("a?b", "a☺b", True),
    ("a[^a]b", "a☺b", True),
    ("a???b", "a☺b", False),
    ("[a-ζ]*", "α", True),
    ("*[a-ζ]", "A", False),
    ("a?b", "a/b", False),
    ("a*b", "a/b", False),
    ("[\\]a]", "]", True),
    ("[\\-]", "-", True),
    ("[x\\-]", "x", True),
    ("[x\\-]", "-", True),
    ("[x\\-]", "z", False),
    ("[\\-x]", "-", True),
    ("*x", "xxx", True),
    ("*.go", "main.go", True),
    ("*.go", "dir/main.go", False),
    ("dir/*.go", "dir/main.go", True),
    ("*", "", True),
    ("", "", True),
    ("", "a", False),
    ("a", "", False),
]


@pytest.mark.parametrize("pattern,name,expected", GO_MATCH)
def test_go_match(pattern, name, expected):
    assert go_match(pattern, name) is expected


BAD_PATTERNS = ["[]a]", "[-]", "[x-]", "[-x]", "\\", "[a-b-c]", "[", "[^", "[^bc", "a[", "ab\\",
                "*[", "a*[x"]


@pytest.mark.parametrize("pattern", BAD_PATTERNS)
def test_go_match_bad_pattern(pattern):
    with pytest.raises(BadPattern) as info:
        go_match(pattern, "a")
    assert str(info.value) == "syntax error in pattern"
    assert isinstance(info.value, InvalidArgument)


def test_bad_pattern_detected_even_after_a_mismatch():
    # Go 1.20+ checks the rest of the pattern before answering "no"
    with pytest.raises(BadPattern):
        go_match("x[", "abc")


CLEAN = [
    ("", "."), (".", "."), ("a/b", "a/b"), ("a//b", "a/b"), ("a/./b", "a/b"), ("a/../b", "b"),
    ("/../a", "/a"), ("//a", "/a"), ("a/", "a"), ("../../a", "../../a"), ("a/b/../..", "."),
    ("/", "/"),
]


@pytest.mark.parametrize("path,expected", CLEAN)
def test_go_clean(path, expected):
    assert go_clean(path) == expected


def test_has_magic():
    assert has_magic("*.txt") and has_magic("a?") and has_magic("[ab]")
    assert not has_magic("plain/file.txt")


# -- reading .dockerignore -------------------------------------------------------------------------
def test_parse_dockerignore():
    text = ("\ufefftest1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n"
            "  # not a comment: '#' must be the first character\n! /inverted/abs/path\n"
            "!\n! \n  spaced  \r\n./dot/../x/\n**/*.pyc\n")
    assert parse_dockerignore(text) == [
        "test1", "test2", "a/file/here", "lastfile", "# not a comment: '#' must be the first character",
        "!inverted/abs/path", "!", "!", "spaced", "x", "**/*.pyc",
    ]


def test_read_dockerignore(tmp_path):
    assert read_dockerignore(tmp_path) == []
    (tmp_path / ".dockerignore").write_bytes(b"*.log\n!keep.log\n")
    assert read_dockerignore(tmp_path) == ["*.log", "!keep.log"]


# -- matching ---------------------------------------------------------------------------------------
# (patterns, path, excluded?)
MATCHES = [
    (["*"], "fileutils.go", True),
    (["*.go"], "fileutils.go", True),
    (["*.go"], "sub/fileutils.go", False),
    (["*/*.go"], "sub/fileutils.go", True),
    (["!fileutils.go", "*.go"], "fileutils.go", True),
    (["*.go", "!fileutils.go"], "fileutils.go", False),
    (["docs", "!docs/README.md"], "docs/README.md", False),
    (["docs/", "!docs/README.md"], "docs/README.md", False),
    (["docs/*", "!docs/README.md"], "docs/README.md", False),
    (["docs"], "docs/deep/down/file", True),
    (["docs"], "docsx", False),
    (["*.go"], ".", False),
    ([], "anything", False),
    (["a*"], "ab/c", True),  # parent directory "ab" matches
    # ** in every position
    (["**"], "file", True),
    (["**"], "dir/file", True),
    (["**/"], "file", True),
    (["**/**"], "dir/file", True),
    (["dir/**"], "dir/file", True),
    (["dir/**"], "dir/dir2/file", True),
    (["dir/**"], "dir", False),
    (["**/dir"], "dir", True),
    (["**/dir"], "a/b/dir", True),
    (["**/dir"], "dir/file", True),
    (["**/dir2/*"], "dir/dir2/file", True),
    (["**/dir2/**"], "dir/dir2/dir3/file", True),
    (["**file"], "file", True),
    (["**file"], "dir/file", True),
    (["**/file*"], "dir/dir/file.txt", True),
    (["**/file*.txt"], "dir/dir/file.txt", True),
    (["**/**/*.txt2"], "dir/dir/file.txt", False),
    (["**/*.txt"], "file.txt", True),
    (["**/*.txt"], "a/b/c/file.txt", True),
    (["a**/*.txt"], "a/dir/dir/file.txt", True),
    (["a/*.txt"], "a/dir/file.txt", False),
    (["a/*.txt**"], "a/file.txt", True),
    (["**/foo/bar"], "foo/bar", True),
    (["**/foo/bar"], "dir/dir2/foo/bar", True),
    (["**/.foo"], ".foo", True),
    (["**/.foo"], "bar.foo", False),
    (["abc/**"], "abc", False),
    (["abc/**"], "abc/def/ghi", True),
    # classes, ? and regex metacharacters taken literally
    (["a[b-d]e"], "ace", True),
    (["a[b-d]e"], "aae", False),
    (["a[^b-d]e"], "aze", True),
    (["[[]x"], "[x", True),
    ([".*"], ".foo", True),
    ([".*"], "foo", False),
    (["abc.def"], "abcdef", False),
    (["abc?def"], "abcZdef", True),
    (["abc?def"], "abc/def", False),
    (["a(b)c/def"], "a(b)c/def", True),
    (["a.|)$(}+{bc"], "a.|)$(}+{bc", True),
    (["dist/*.whl"], "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", True),
    (["a\\*b"], "a*b", True),
    (["a\\*b"], "axb", False),
    # cleaning of patterns and paths
    (["/abs/path"], "abs/path", True),
    (["./x/../y"], "y", True),
    (["  padded  "], "padded", True),
    (["dir"], "./dir/file", True),
    # exceptions: the last matching pattern wins
    (["**", "!util/docker/web"], "util/docker/web/foo", False),
    (["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", True),
    (["*.md", "!README*.md", "README-secret.md"], "README-secret.md", True),
    (["*.md", "!README*.md", "README-secret.md"], "README.md", False),
    (["*.md", "!README*.md", "README-secret.md"], "CHANGES.md", True),
    (["**", "!dist/*.whl"], "dist/x.whl", False),
    (["**", "!dist/*.whl"], "dist/x.tar.gz", True),
    (["node_modules", "!node_modules/keep"], "node_modules/keep/index.js", False),
    (["node_modules", "!node_modules/keep"], "node_modules/other/index.js", True),
    (["*", "!src", "src/*.tmp"], "src/main.c", False),
    (["*", "!src", "src/*.tmp"], "src/x.tmp", True),
]


@pytest.mark.parametrize("patterns,path,excluded", MATCHES)
def test_matches(patterns, path, excluded):
    assert Matcher(patterns).matches(path) is excluded


def test_matcher_errors():
    with pytest.raises(InvalidArgument, match='illegal exclusion pattern: "!"'):
        Matcher(["!"])
    with pytest.raises(InvalidArgument, match="syntax error in pattern"):
        Matcher(["["])
    with pytest.raises(InvalidArgument, match="syntax error in pattern"):
        Matcher(["ok", "!a["])


def test_matcher_properties():
    m = Matcher(["docs", "", "  ", "!docs/README.md"])
    assert len(m.patterns) == 2 and m.has_exclusions
    assert [p.cleaned for p in m.patterns] == ["docs", "docs/README.md"]
    assert not Matcher(["a"]).has_exclusions


# (patterns, excluded directory, can an exception re-include something inside it?)
REINCLUDE = [
    (["docs", "!docs/README.md"], "docs", True),
    (["docs", "!docs/README.md"], "other", False),
    (["*", "!src/keep"], "src", True),
    (["*", "!keep.txt"], "src", False),
    (["*", "!**/keep"], "src", True),
    (["*", "!*/keep"], "src", True),
    (["*", "!s*/a/keep"], "src/a", True),
    (["*", "!s*/a/keep"], "src/b", False),
    (["*"], "src", False),
]


@pytest.mark.parametrize("patterns,directory,expected", REINCLUDE)
def test_could_reinclude_below(patterns, directory, expected):
    assert Matcher(patterns).could_reinclude_below(directory) is expected


# -- the build context --------------------------------------------------------------------
def _tree(root, files):
    for rel in files:
        path = root / rel
        if rel.endswith("/"):
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(rel)


TREE = [
    "Dockerfile", ".dockerignore", "README.md", "main.go", "app.log", "empty/",
    "docs/guide.md", "docs/README.md", "node_modules/a/index.js", "node_modules/keep/k.js",
    "build/out.o", "src/main.c", "src/tmp/x.tmp", "sub/Dockerfile.dev",
]

# (patterns, dockerfile name, expected context)
CONTEXTS = [
    ([], "Dockerfile", [
        ".dockerignore", "Dockerfile", "README.md", "app.log", "build", "build/out.o", "docs",
        "docs/README.md", "docs/guide.md", "empty", "main.go", "node_modules", "node_modules/a",
        "node_modules/a/index.js", "node_modules/keep", "node_modules/keep/k.js", "src",
        "src/main.c", "src/tmp", "src/tmp/x.tmp", "sub", "sub/Dockerfile.dev"]),
    (["*.log", "build", "node_modules", "src/tmp", "empty", "sub"], "Dockerfile", [
        ".dockerignore", "Dockerfile", "README.md", "docs", "docs/README.md", "docs/guide.md",
        "main.go", "src", "src/main.c"]),
    # everything excluded: the Dockerfile and .dockerignore still go
    (["*"], "Dockerfile", [".dockerignore", "Dockerfile"]),
    (["**"], "Dockerfile", [".dockerignore", "Dockerfile"]),
    (["Dockerfile", ".dockerignore"], "Dockerfile", [
        ".dockerignore", "Dockerfile", "README.md", "app.log", "build", "build/out.o", "docs",
        "docs/README.md", "docs/guide.md", "empty", "main.go", "node_modules", "node_modules/a",
        "node_modules/a/index.js", "node_modules/keep", "node_modules/keep/k.js", "src",
        "src/main.c", "src/tmp", "src/tmp/x.tmp", "sub", "sub/Dockerfile.dev"]),
    # a Dockerfile elsewhere in the context is kept, its directory is entered but not listed
    (["*"], "sub/Dockerfile.dev", [".dockerignore", "sub/Dockerfile.dev"]),
    # exceptions re-include files inside excluded directories
    (["*", "!docs/README.md", "!node_modules/keep"], "Dockerfile", [
        ".dockerignore", "Dockerfile", "docs/README.md", "node_modules/keep",
        "node_modules/keep/k.js"]),
    (["*", "!**/*.md"], "Dockerfile", [
        ".dockerignore", "Dockerfile", "README.md", "docs/README.md", "docs/guide.md"]),
    (["docs", "!docs/*.md", "docs/guide.md"], "Dockerfile", [
        ".dockerignore", "Dockerfile", "README.md", "app.log", "build", "build/out.o",
        "docs/README.md", "empty", "main.go", "node_modules", "node_modules/a",
        "node_modules/a/index.js", "node_modules/keep", "node_modules/keep/k.js", "src",
        "src/main.c", "src/tmp", "src/tmp/x.tmp", "sub", "sub/Dockerfile.dev"]),
    # a Dockerfile outside the context is not part of it
    (["*"], "../elsewhere/Dockerfile", [".dockerignore"]),
]


@pytest.mark.parametrize("patterns,dockerfile,expected", CONTEXTS)
def test_context_files(tmp_path, patterns, dockerfile, expected):
    _tree(tmp_path, TREE)
    got = context_files(tmp_path, patterns, dockerfile)
    assert sorted(got) == expected
    # walk order: every directory comes before its contents
    for i, rel in enumerate(got):
        if "/" in rel and rel.rsplit("/", 1)[0] in got:
            assert got.index(rel.rsplit("/", 1)[0]) < i


def test_context_files_reads_dockerignore_and_keeps_it(tmp_path):
    _tree(tmp_path, ["Dockerfile", "a.txt", "b.log", "logs/x.log"])
    (tmp_path / ".dockerignore").write_text("# logs\n*.log\nlogs\n.dockerignore\nDockerfile\n")
    assert context_files(tmp_path) == [".dockerignore", "Dockerfile", "a.txt"]


def test_context_files_absolute_dockerfile(tmp_path):
    _tree(tmp_path, ["df/Custom", "x"])
    assert context_files(tmp_path, ["*"], str(tmp_path / "df" / "Custom")) == ["df/Custom"]


def test_context_files_does_not_follow_symlinks(tmp_path):
    _tree(tmp_path, ["real/file", "Dockerfile"])
    os.symlink("real", tmp_path / "link")
    os.symlink("/etc", tmp_path / "outside")
    got = context_files(tmp_path, [])
    assert got == ["Dockerfile", "link", "outside", "real", "real/file"]


def test_context_files_prunes_without_exceptions(tmp_path, monkeypatch):
    _tree(tmp_path, ["Dockerfile", "big/a/b/c", "small"])
    entered = []
    real_scandir = os.scandir

    def spy(path):
        entered.append(os.path.relpath(path, tmp_path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", spy)
    assert context_files(tmp_path, ["big"]) == ["Dockerfile", "small"]
    assert entered == ["."]
