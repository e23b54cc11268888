"""`layerbox build` as a user sees it: the output, the images (run and inspect), the cache,
multi-stage builds, .dockerignore, failures, and the host left alone."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import tarfile
import threading
import time

import pytest

import layerbox

pytestmark = pytest.mark.privileged


# -- helpers ----------------------------------------------------------------------------------

def all_images(cli) -> set:
    r = cli("images", "-a", "-q", "--no-trunc")
    assert r.returncode == 0, r.err
    return set(r.out.split())


@pytest.fixture
def builds(cli, busybox_image):
    """Removes every image a test made (intermediate and dangling ones included) and checks
    that no container was left behind."""
    before = all_images(cli)
    yield
    assert cli("ps", "-a", "-q").out.split() == [], "a build left a container behind"
    for _ in range(20):
        left = all_images(cli) - before
        if not left:
            break
        for i in left:
            cli("rmi", "-f", i)
    assert all_images(cli) - before == set()


def context(path, files: dict, dockerfile: str | None = None) -> str:
    """Writes files ({relative path: text or bytes}) and a Dockerfile under path."""
    os.makedirs(path, exist_ok=True)
    if dockerfile is not None:
        files = dict(files, Dockerfile=dockerfile)
    for rel, data in files.items():
        p = os.path.join(path, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
    return str(path)


def build(cli, ctx, *args, ok=True, **kw):
    r = cli("build", *args, ctx, **kw)
    if ok:
        assert r.returncode == 0, f"build failed\nstdout: {r.out}\nstderr: {r.err}"
    return r


def built_id(r) -> str:
    m = re.search(r"^Successfully built ([0-9a-f]{12})$", r.out, re.M)
    assert m, r.out
    return m.group(1)


def inspect(cli, ref) -> dict:
    r = cli("image", "inspect", ref)
    assert r.returncode == 0, r.err
    return json.loads(r.out)[0]


def image_config(cli, ref) -> dict:
    """The image's config document, as `save` hands it out."""
    r = cli("save", ref)
    assert r.returncode == 0, r.err
    with tarfile.open(fileobj=io.BytesIO(r.stdout)) as t:
        manifest = json.load(t.extractfile("manifest.json"))
        return json.load(t.extractfile(manifest[0]["Config"]))


def run(cli, image, *cmd) -> str:
    r = cli("run", "--rm", image, *cmd)
    assert r.returncode == 0, f"stdout: {r.out}\nstderr: {r.err}"
    return r.out


def steps(out: str) -> list:
    """The build output as (step text, [lines after it])."""
    result = []
    for line in out.splitlines():
        m = re.match(r"^Step \d+/\d+ : (.*)$", line)
        if m:
            result.append((m.group(1), []))
        elif result:
            result[-1][1].append(line)
    return result


# -- each instruction ---------------------------------------------------------------------------

EVERYTHING = r"""# syntax=docker/dockerfile:1
FROM busybox
MAINTAINER Ann <ann@example.com>
ARG VERSION=1.0
ENV APP_HOME=/srv/app \
    GREETING="hello world"
ENV LEGACY form with spaces
LABEL org.example.version=$VERSION "with space"="a b"
EXPOSE 80 443/udp 8000-8001
WORKDIR $APP_HOME
COPY --chown=user:staff app/ ./
COPY --chmod=700 tool.sh /usr/local/bin/tool
ADD bundle.tar.gz /opt/
USER user
RUN echo "$GREETING from $(whoami) v$VERSION" > /tmp/who && id -u > /tmp/uid
USER root
VOLUME ["/data"]
STOPSIGNAL SIGUSR1
HEALTHCHECK --interval=30s --timeout=5s --retries=3 CMD wget -q -O- localhost || exit 1
SHELL ["/bin/sh", "-ec"]
RUN test -d /srv/app && echo shell-ok > /srv/app/shell
ONBUILD RUN echo child
ENTRYPOINT ["/bin/env"]
CMD echo "$GREETING"
"""


def _bundle() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        data = b"from the bundle\n"
        ti = tarfile.TarInfo("bundle/readme")
        ti.size, ti.mode, ti.uid, ti.gid = len(data), 0o640, 123, 456
        t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def test_every_instruction_through_run_and_inspect(cli, builds, tmp_path):
    ctx = context(tmp_path / "ctx", {"app/main.txt": "main\n", "app/lib/util.txt": "util\n",
                                     "tool.sh": "#!/bin/sh\necho tool\n", "bundle.tar.gz": _bundle()},
                  EVERYTHING)
    r = build(cli, ctx, "-t", "every:1", "--build-arg", "VERSION=2.5")
    assert "Successfully tagged every:1" in r.out

    doc = inspect(cli, "every:1")
    cfg = doc["Config"]
    assert doc["Author"] == "Ann <ann@example.com>"
    assert cfg["Env"] == ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                          "APP_HOME=/srv/app", "GREETING=hello world", "LEGACY=form with spaces"]
    assert cfg["Labels"] == {"org.example.version": "2.5", "with space": "a b"}
    assert cfg["ExposedPorts"] == {"80/tcp": {}, "443/udp": {}, "8000/tcp": {}, "8001/tcp": {}}
    assert cfg["WorkingDir"] == "/srv/app"
    assert "User" not in cfg or cfg["User"] == "root"
    assert cfg["Volumes"] == {"/data": {}}
    assert cfg["StopSignal"] == "SIGUSR1"
    assert cfg["Healthcheck"] == {"Test": ["CMD-SHELL", "wget -q -O- localhost || exit 1"],
                                  "Interval": 30 * 10**9, "Timeout": 5 * 10**9, "Retries": 3}
    assert cfg["Shell"] == ["/bin/sh", "-ec"]
    assert cfg["OnBuild"] == ["RUN echo child"]
    assert cfg["Entrypoint"] == ["/bin/env"]
    assert cfg["Cmd"] == ["/bin/sh", "-ec", 'echo "$GREETING"']

    # The CMD and ENTRYPOINT as a container runs them; the files each step wrote.
    assert run(cli, "every:1") == "hello world\n"
    out = run(cli, "every:1", "sh", "-c", "cat /tmp/who /tmp/uid /srv/app/shell; pwd; "
                              "stat -c '%n %U %G %a' /srv/app/main.txt /srv/app/lib /usr/local/bin/tool; stat -c '%n %u %g %a' "
                              "/opt/bundle/readme; /usr/local/bin/tool")
    assert out.splitlines() == [
        "hello world from user v2.5", "1000", "shell-ok", "/srv/app",
        "/srv/app/main.txt user staff 644", "/srv/app/lib user staff 755",
        "/usr/local/bin/tool root root 700", "/opt/bundle/readme 123 456 640", "tool"]

    # docker's classic builder's history: one entry per step, empty_layer where no file
    # changed (WORKDIR of a new directory, COPY, ADD and the two RUNs make layers).
    hist = image_config(cli, "every:1")["history"]
    flags = [bool(h.get("empty_layer")) for h in hist[1:]]
    assert flags == [True, True, True, True, True, True, False, False, False, False, True, False,
                     True, True, True, True, True, False, True, True, True]
    assert hist[2]["created_by"] == "/bin/sh -c #(nop)  ARG VERSION=1.0"
    assert hist[3]["created_by"] == "/bin/sh -c #(nop)  ENV APP_HOME=/srv/app GREETING=hello world"
    assert hist[7]["created_by"] == "/bin/sh -c #(nop) WORKDIR /srv/app"
    assert hist[12]["created_by"].startswith("|1 VERSION=2.5 /bin/sh -c echo ")
    assert len(doc["RootFS"]["Layers"]) == 1 + flags.count(False)
    # history of the image as `history` shows it: every step's image is the parent of the next
    ids = cli("history", "-q", "every:1").out.split()
    assert len(ids) == len(hist) and "<missing>" not in ids


def test_output_is_the_classic_builders(cli, builds, tmp_path):
    ctx = context(tmp_path / "ctx", {"f": "x"},
                  "FROM busybox\nENV A=1\nCOPY f /f\nRUN echo run-output && echo to-stderr >&2\n"
                  "CMD [\"cat\", \"/f\"]\n")
    r = build(cli, ctx, "-t", "out:1", "-t", "out:2")
    lines = r.out.splitlines()
    # the context's tar: Dockerfile and f, a 512-byte header and a 512-byte block each, 1024 end
    assert lines.pop(0) == "Sending build context to Docker daemon  3.072kB"
    assert lines[0] == "Step 1/5 : FROM busybox"
    assert re.fullmatch(r" ---> [0-9a-f]{12}", lines[1])
    assert lines[2] == "Step 2/5 : ENV A=1"
    assert re.fullmatch(r" ---> [0-9a-f]{12}", lines[3])
    assert lines[4] == "Step 3/5 : COPY f /f"
    assert lines[6] == "Step 4/5 : RUN echo run-output && echo to-stderr >&2"
    m = re.fullmatch(r" ---> Running in ([0-9a-f]{12})", lines[7])
    assert m, lines[7]
    assert lines[8] == "run-output"
    assert lines[9] == f"Removing intermediate container {m.group(1)}"
    assert re.fullmatch(r" ---> [0-9a-f]{12}", lines[10])
    assert lines[11] == 'Step 5/5 : CMD ["cat", "/f"]'
    assert lines[13] == f"Successfully built {lines[12][6:]}"
    assert lines[14:] == ["Successfully tagged out:1", "Successfully tagged out:2"]
    assert r.err == "to-stderr\n"
    assert inspect(cli, "out:1")["Id"].startswith("sha256:" + lines[12][6:])

    # -q: only the image ID
    r = build(cli, ctx, "-q")
    assert r.out == inspect(cli, "out:2")["Id"] + "\n"
    assert r.err == ""


# -- the cache ------------------------------------------------------------------------------

def test_cache_hits_and_misses(cli, builds, tmp_path):
    ctx = context(tmp_path / "ctx", {"a/one": "1", "a/two": "2", "other": "o"},
                  "FROM busybox\nENV X=1\nRUN echo first > /first\nCOPY a /a\nRUN cat /a/one\n"
                  "COPY other /other\nLABEL l=1\n")
    first = build(cli, ctx, "-t", "cached:1")
    assert " ---> Using cache" not in first.out
    again = build(cli, ctx, "-t", "cached:1")
    assert [s for s, lines in steps(again.out) if " ---> Using cache" in lines] == [
        "ENV X=1", "RUN echo first > /first", "COPY a /a", "RUN cat /a/one", "COPY other /other",
        "LABEL l=1"]
    assert built_id(again) == built_id(first)
    assert "Running in" not in again.out

    # A changed file under COPY a: that step and the ones after it run again, not the ones
    # before; a touch (same content) changes nothing.
    os.utime(os.path.join(ctx, "a", "two"), (1, 1))
    assert built_id(build(cli, ctx)) == built_id(first)
    with open(os.path.join(ctx, "a", "two"), "w") as f:
        f.write("changed")
    changed = build(cli, ctx, "-t", "cached:2")
    cached = [s for s, lines in steps(changed.out) if " ---> Using cache" in lines]
    assert cached == ["ENV X=1", "RUN echo first > /first"]
    assert built_id(changed) != built_id(first)
    assert run(cli, "cached:2", "cat", "/a/two") == "changed"
    assert run(cli, "cached:1", "cat", "/a/two") == "2"

    # A new mode is a change too; --no-cache uses nothing but is remembered
    os.chmod(os.path.join(ctx, "other"), 0o600)
    r = build(cli, ctx)
    assert [s for s, lines in steps(r.out) if " ---> Using cache" in lines][-1] == "RUN cat /a/one"
    nocache = build(cli, ctx, "--no-cache", "-t", "cached:3")
    assert " ---> Using cache" not in nocache.out
    assert built_id(build(cli, ctx)) == built_id(nocache)


def test_cache_follows_build_args_and_survives_across_invocations(cli, builds, tmp_path):
    ctx = context(tmp_path / "ctx", {},
                  "FROM busybox\nARG WHO=nobody\nRUN echo $WHO > /who\nRUN echo done\n")
    a = build(cli, ctx, "--build-arg", "WHO=ann")
    b = build(cli, ctx, "--build-arg", "WHO=bob")
    assert [s for s, lines in steps(b.out) if " ---> Using cache" in lines] == ["ARG WHO=nobody"]
    again = build(cli, ctx, "--build-arg", "WHO=ann")
    assert built_id(again) == built_id(a)
    assert run(cli, built_id(b), "cat", "/who") == "bob\n"
    # a proxy arg nobody declared is in RUN's environment but not in the cache key (docker's)
    p = build(cli, ctx, "--build-arg", "WHO=ann", "--build-arg", "HTTP_PROXY=http://proxy:3128")
    assert built_id(p) == built_id(a)
    # an unused --build-arg is reported, as docker does
    r = build(cli, ctx, "--build-arg", "NOPE=1")
    assert "[Warning] One or more build-args [NOPE] were not consumed" in r.err


def test_concurrent_builds_share_the_cache(cli, builds, tmp_path):
    ctx = context(tmp_path / "ctx", {f"d/f{i}": str(i) * 100 for i in range(30)},
                  "FROM busybox\nCOPY d /d\nRUN sleep 0.2; ls /d | wc -l > /count\n"
                  "RUN cat /d/* | md5sum > /sum\nCMD [\"cat\", \"/count\"]\n")
    results = [None] * 4

    def go(i):
        results[i] = cli("build", "-t", f"conc:{i}", ctx)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        assert r.returncode == 0, r.err
    for i in range(4):
        assert run(cli, f"conc:{i}") == "30\n"
        assert run(cli, f"conc:{i}", "cat", "/d/f7") == "7" * 100
    # Afterwards every step is a hit, and the result is one of the concurrent ones.
    again = build(cli, ctx)
    assert all(" ---> Using cache" in lines for _, lines in steps(again.out)[1:])
    assert built_id(again) in {built_id(r) for r in results}


# -- multi-stage -----------------------------------------------------------------------------

def test_multi_stage_keeps_only_what_copy_from_brought(cli, builds, tmp_path):
    ctx = context(tmp_path / "ctx", {"src.txt": "source\n"}, """
ARG BASE=busybox
FROM ${BASE} AS builder
COPY src.txt /work/src.txt
RUN mkdir /out && tr a-z A-Z < /work/src.txt > /out/artifact && echo junk > /junk
FROM $BASE AS never
RUN echo "this stage is not needed" && exit 3
FROM scratch AS files
COPY src.txt /plain
FROM busybox
COPY --from=builder /out/artifact /app/artifact
COPY --from=2 /plain /app/plain
COPY --from=busybox /etc/group /app/group
""")
    r = build(cli, ctx, "-t", "multi:1")
    assert "this stage is not needed" not in r.out
    assert [s for s, _ in steps(r.out)][:3] == ["ARG BASE=busybox", "FROM ${BASE} AS builder",
                                                "COPY src.txt /work/src.txt"]
    out = run(cli, "multi:1", "sh", "-c", "cat /app/artifact /app/plain; ls /app; "
                                         "ls /junk /work 2>&1 | wc -l")
    assert out.splitlines() == ["SOURCE", "source", "artifact", "group", "plain", "2"]
    assert len(inspect(cli, "multi:1")["RootFS"]["Layers"]) == 4

    # --target builds up to a stage (the stage it depends on too)
    r = build(cli, ctx, "--target", "builder", "-t", "multi:builder")
    assert [s for s, _ in steps(r.out)][-1].startswith("RUN mkdir /out")
    assert run(cli, "multi:builder", "cat", "/junk") == "junk\n"
    r = build(cli, ctx, "--target", "nosuch", ok=False)
    assert r.returncode == 1 and "failed to reach build target nosuch in Dockerfile" in r.err


def test_onbuild_triggers_run_after_from(cli, builds, tmp_path):
    base = context(tmp_path / "base", {}, "FROM busybox\nONBUILD COPY msg /msg\n"
                                          "ONBUILD RUN cat /msg > /seen\n")
    build(cli, base, "-t", "onbuild-base:1")
    child = context(tmp_path / "child", {"msg": "from the child context\n"},
                    "FROM onbuild-base:1\nRUN cat /seen\n")
    r = build(cli, child, "-t", "onbuild-child:1")
    assert "# Executing 2 build triggers" in r.out
    assert "from the child context" in r.out
    assert inspect(cli, "onbuild-child:1")["Config"].get("OnBuild") in (None, [])


def test_from_scratch_and_heredocs(cli, builds, tmp_path):
    ctx = context(tmp_path / "ctx", {}, """FROM busybox AS tools
ARG WHO=world
RUN <<EOF
echo "hello $WHO" > /greeting
EOF
RUN <<EOT
#!/bin/sh
echo "script run as $0" > /script
EOT
COPY <<EOF /note
note for ${WHO}
EOF
FROM scratch
COPY --from=tools /bin/busybox /bin/busybox
COPY --from=tools /greeting /script /note /out/
ENTRYPOINT ["/bin/busybox"]
""")
    build(cli, ctx, "-t", "scratchy:1")
    out = run(cli, "scratchy:1", "cat", "/out/greeting", "/out/note")
    assert out == "hello world\nnote for world\n"
    assert run(cli, "scratchy:1", "ls", "/", "/out").split() == [
        "/:", "bin", "dev", "etc", "out", "proc", "sys", "/out:", "greeting", "note", "script"]
    assert "script run as /" in run(cli, "scratchy:1", "cat", "/out/script")


# -- the context ------------------------------------------------------------------------------

def test_dockerignore(cli, builds, tmp_path):
    ctx = context(tmp_path / "ctx", {
        ".dockerignore": "# comment\n*.log\n!keep.log\nsecret/\n**/*.tmp\nDockerfile\n.dockerignore\n"
                         "docs\n!docs/README.md\n",
        "a.log": "x", "keep.log": "k", "secret/key": "s", "src/x.tmp": "t", "src/y.txt": "y",
        "logs/l.log": "nested logs are not matched by *.log", "docs/README.md": "r", "docs/other": "o",
    }, "FROM busybox\nCOPY . /ctx\n")
    build(cli, ctx, "-t", "ignored:1")
    out = run(cli, "ignored:1", "find", "/ctx", "-type", "f")
    assert sorted(out.split()) == ["/ctx/docs/README.md", "/ctx/keep.log", "/ctx/logs/l.log",
                                   "/ctx/src/y.txt"]
    for df in ("FROM busybox\nCOPY secret/key /k\n", "FROM busybox\nCOPY a.log /k\n"):
        with open(os.path.join(ctx, "Dockerfile"), "w") as f:
            f.write(df)
        r = build(cli, ctx, ok=False)
        assert r.returncode == 1
        assert "file not found in build context or excluded by .dockerignore" in r.err


def test_wildcards_and_destinations(cli, builds, tmp_path):
    ctx = context(tmp_path / "ctx", {"a1.txt": "1", "a2.txt": "2", "b.txt": "b", "dir/in.txt": "i",
                                     "[x].txt": "brackets", "x.txt": "x"}, """FROM busybox
WORKDIR /work
COPY a?.txt sub/
COPY [ab]*.txt /all/
COPY dir rel-dir
COPY b.txt .
COPY b.txt renamed
COPY \\[x\\].txt /esc
""")
    build(cli, ctx, "-t", "wild:1")
    # docker's lexer drops the backslashes first, so [x] stays a class (of x), as in docker
    assert run(cli, "wild:1", "cat", "/esc") == "x"
    out = run(cli, "wild:1", "sh", "-c", "cd /work && find . /all /esc | sort")
    assert out.split() == [".", "./b.txt", "./rel-dir", "./rel-dir/in.txt", "./renamed", "./sub",
                           "./sub/a1.txt", "./sub/a2.txt", "/all", "/all/a1.txt", "/all/a2.txt",
                           "/all/b.txt", "/esc"]
    with open(os.path.join(ctx, "Dockerfile"), "w") as f:
        f.write("FROM busybox\nCOPY *.txt /notadir\n")
    r = build(cli, ctx, ok=False)
    assert r.returncode == 1
    assert "When using COPY with more than one source file, the destination must be a directory " \
           "and end with a /" in r.err


def test_context_from_stdin(cli, builds, tmp_path):
    ctx = context(tmp_path / "ctx", {"hello.txt": "from a tar\n"},
                  "FROM busybox\nCOPY hello.txt /hello.txt\n")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        t.add(ctx, arcname=".")
    r = cli("build", "-t", "stdin:1", "-", input=buf.getvalue())
    assert r.returncode == 0, r.err
    assert run(cli, "stdin:1", "cat", "/hello.txt") == "from a tar\n"
    # a Dockerfile alone on stdin: no context at all
    r = cli("build", "-q", "-", input=b"FROM busybox\nRUN echo only-a-dockerfile > /x\n")
    assert r.returncode == 0, r.err
    assert run(cli, r.out.strip(), "cat", "/x") == "only-a-dockerfile\n"
    # -f - : the Dockerfile on stdin, the context a directory
    r = cli("build", "-q", "-f", "-", ctx, input=b"FROM busybox\nCOPY hello.txt /h\n")
    assert r.returncode == 0, r.err
    assert run(cli, r.out.strip(), "cat", "/h") == "from a tar\n"


# -- failures ---------------------------------------------------------------------------------

def test_failing_run_stops_the_build(cli, builds, tmp_path, store_root):
    ctx = context(tmp_path / "ctx", {}, "FROM busybox\nRUN echo before\n"
                                        "RUN echo out; echo err >&2; exit 3\nRUN echo never\n")
    containers = os.listdir(os.path.join(store_root, "containers"))
    r = build(cli, ctx, "-t", "failed:1", ok=False)
    assert r.returncode == 3
    assert "Step 3/4 : RUN echo out; echo err >&2; exit 3" in r.out
    assert "out\n" in r.out and "Step 4/4" not in r.out and "never" not in r.out
    assert r.err.endswith("The command '/bin/sh -c echo out; echo err >&2; exit 3' returned a "
                          "non-zero code: 3\n")
    assert cli("image", "inspect", "failed:1").returncode != 0, "a failed build left a tag"
    assert os.listdir(os.path.join(store_root, "containers")) == containers
    # -q shows the output it kept when the build fails
    r = build(cli, ctx, "-q", ok=False)
    assert r.returncode == 3 and r.out == "" and "Step 3/4" in r.err and "returned a non-zero code: 3" in r.err


def test_wrong_dockerfile_fails_before_any_step(cli, builds, tmp_path):
    ctx = context(tmp_path / "ctx", {}, "FROM busybox\nRUN touch /never\nRUN true\nFOO bar\n")
    r = build(cli, ctx, ok=False)
    assert r.returncode == 1
    assert r.out.startswith("Sending build context to Docker daemon ") and r.out.count("\n") == 1
    assert r.err == "Dockerfile:4: unknown instruction: FOO\n"
    with open(os.path.join(ctx, "Dockerfile"), "w") as f:
        f.write("FROM busybox\nCOPY --from=later /x /x\nFROM busybox AS later\n")
    r = build(cli, ctx, ok=False)
    assert r.returncode == 1 and "Step" not in r.out and r.err.startswith("Dockerfile:2: ")
    r = cli("build", "-f", os.path.join(ctx, "missing.Dockerfile"), ctx)
    assert r.returncode == 1 and "no such file or directory" in r.err


def test_stopsignal_the_build_takes_is_one_stop_and_kill_deliver(cli, builds, tmp_path):
    # One signal parser: what STOPSIGNAL accepts, stop and kill can send, and what they
    # could not send the build refuses at its line.
    ctx = context(tmp_path / "ctx", {}, "FROM busybox\nSTOPSIGNAL SIGRTMAX-1\n")
    build(cli, ctx, "-t", "rtsig:1")
    assert inspect(cli, "rtsig:1")["Config"]["StopSignal"] == "SIGRTMAX-1"
    # the trap is set up before the container says it is ready
    r = cli("run", "-d", "rtsig:1", "sh", "-c",
            "trap 'echo got-rt; exit 7' 63; echo ready; while :; do sleep 0.1; done")
    assert r.returncode == 0, r.err
    cid = r.out.strip()
    try:
        for _ in range(100):
            if "ready" in cli("logs", cid).out:
                break
            time.sleep(0.05)
        r = cli("stop", "-t", "10", cid)
        assert r.returncode == 0, r.err
        assert cli("inspect", "-f", "{{.State.ExitCode}}", cid).out.strip() == "7"
        assert "got-rt" in cli("logs", cid).out
        r = cli("kill", "-s", "RTMAX-1", cid)
        assert r.returncode != 0 and "is not running" in r.err  # parsed, then refused
    finally:
        cli("rm", "-f", cid)
    with open(os.path.join(ctx, "Dockerfile"), "w") as f:
        f.write("FROM busybox\nSTOPSIGNAL 100\n")
    r = build(cli, ctx, ok=False)
    assert r.returncode == 1 and r.err == "Dockerfile:2: Invalid signal: 100\n"


def test_add_url_unreachable_and_missing_base(cli, builds, tmp_path):
    ctx = context(tmp_path / "ctx", {}, "FROM busybox\nADD http://127.0.0.1:9/archive.tar /x\n")
    r = build(cli, ctx, ok=False)
    assert r.returncode == 1
    assert "ADD failed: failed to GET http://127.0.0.1:9/archive.tar" in r.err
    with open(os.path.join(ctx, "Dockerfile"), "w") as f:
        f.write("FROM no-such-image:1\n")
    r = build(cli, ctx, ok=False)
    assert r.returncode == 1 and "no-such-image" in r.err  # the pull failed (no registry here)


# -- the host stays untouched -----------------------------------------------------------------

def _tree(path) -> dict:
    out = {}
    for d, dirs, files in os.walk(path):
        for n in dirs + files:
            p = os.path.join(d, n)
            st = os.lstat(p)
            out[os.path.relpath(p, path)] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return out


def test_copy_outside_the_context_is_refused(cli, builds, tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "secret").write_text("do not copy me\n")
    ctx = context(tmp_path / "ctx", {}, "FROM busybox\nCOPY ../victim/secret /stolen\n")
    r = build(cli, ctx, ok=False)
    assert r.returncode == 1
    assert "forbidden path outside the build context: ../victim/secret" in r.err
    # A link in the context that points out of it is followed inside the context only.
    os.symlink(str(victim / "secret"), os.path.join(ctx, "link-abs"))
    os.symlink("../victim", os.path.join(ctx, "link-rel"))
    for df in ("FROM busybox\nCOPY link-abs /stolen\n", "FROM busybox\nCOPY link-rel/secret /stolen\n"):
        with open(os.path.join(ctx, "Dockerfile"), "w") as f:
            f.write(df)
        r = build(cli, ctx, ok=False)
        assert r.returncode == 1 and "file not found in build context" in r.err, r.err
    # Copied as links (not followed) when inside a copied directory.
    os.mkdir(os.path.join(ctx, "d"))
    os.symlink(str(victim / "secret"), os.path.join(ctx, "d", "link"))
    with open(os.path.join(ctx, "Dockerfile"), "w") as f:
        f.write("FROM busybox\nCOPY d /d\n")
    build(cli, ctx, "-t", "links:1")
    assert run(cli, "links:1", "readlink", "/d/link") == str(victim / "secret") + "\n"
    assert (victim / "secret").read_text() == "do not copy me\n"


def test_symlink_in_the_image_never_leads_to_the_host(cli, builds, tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep").write_text("host file\n")
    etc_before = _tree("/etc")
    victim_before = _tree(victim)
    base = context(tmp_path / "base", {}, f"FROM busybox\nRUN ln -s /etc /app && ln -s {victim} /v "
                                          "&& ln -s ../../../../etc /up\n")
    build(cli, base, "-t", "evil-base:1")
    ctx = context(tmp_path / "ctx", {"x": "payload\n", "dir/inner": "inner\n"}, f"""FROM evil-base:1
COPY x /app/
COPY dir /app/copied-dir
COPY x /v/keep
COPY x /up/x2
WORKDIR /app/made-by-workdir
ADD x /v/added
""")
    build(cli, ctx, "-t", "evil:1")
    out = run(cli, "evil:1", "sh", "-c", f"cat /etc/x /etc/copied-dir/inner /etc/x2 {victim}/keep; "
                                         "ls -d /etc/made-by-workdir")
    assert out.splitlines() == ["payload", "inner", "payload", "payload", "/etc/made-by-workdir"]
    assert _tree("/etc") == etc_before
    assert _tree(victim) == victim_before
    assert (victim / "keep").read_text() == "host file\n"


# -- the API ------------------------------------------------------------------------------------

def test_api_build(client, builds, tmp_path):
    ctx = context(tmp_path / "ctx", {"f": "api\n"},
                  "FROM busybox\nARG X=1\nCOPY f /f\nRUN cat /f\nLABEL x=$X\n")
    image, logs = client.images.build(path=ctx, tag="api-built:1", buildargs={"X": "2"})
    assert isinstance(image, layerbox.client.Image)
    assert "api-built:1" in image.tags
    assert image.labels == {"x": "2"}
    logs = list(logs)
    text = "".join(d.get("stream", "") for d in logs)
    assert "Step 4/5 : RUN cat /f" in text and "api\n" in text
    assert f"Successfully built {image.id[7:19]}" in text
    assert client.containers.run(image, ["cat", "/f"], remove=True) == b"api\n"

    image2, logs2 = client.images.build(path=ctx, tag="api-built:1", buildargs={"X": "2"})
    assert image2.id == image.id
    assert sum(1 for d in logs2 if d.get("stream") == " ---> Using cache\n") == 4
    nocache, _ = client.images.build(path=ctx, nocache=True, buildargs={"X": "2"}, quiet=True)
    assert nocache.id != image.id

    # fileobj: a Dockerfile alone, or a context tar with custom_context
    img3, _ = client.images.build(fileobj=io.BytesIO(b"FROM busybox\nLABEL only=df\n"))
    assert img3.labels == {"only": "df"}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        t.add(ctx, arcname=".")
    buf.seek(0)
    img4, _ = client.images.build(fileobj=buf, custom_context=True, target=None,
                                  buildargs={"X": "3"})
    assert img4.labels == {"x": "3"}

    with pytest.raises(layerbox.errors.BuildError) as e:
        client.images.build(fileobj=io.BytesIO(b"FROM busybox\nRUN echo failing; exit 7\n"))
    assert "returned a non-zero code: 7" in str(e.value)
    log = list(e.value.build_log)
    assert any("failing" in d.get("stream", "") for d in log)
    assert log[-1]["error"] == str(e.value)
    with pytest.raises(layerbox.errors.BuildError):
        client.images.build(fileobj=io.BytesIO(b"FROM busybox\nBOGUS x\n"))


def test_rmi_prunes_the_intermediate_images(cli, builds, tmp_path):
    before = all_images(cli)
    ctx = context(tmp_path / "ctx", {"f": "1"}, "FROM busybox\nENV A=1\nCOPY f /f\nRUN true\n")
    build(cli, ctx, "-t", "pruned:1")
    made = all_images(cli) - before
    assert len(made) == 3  # ENV, COPY, RUN: each step's image
    rows = cli("images", "-a", "--format", "{{.Repository}} {{.ID}}").out.splitlines()
    assert sum(1 for r in rows if r.startswith("<none> ") and any(r.endswith(i[7:19]) for i in made)) == 2
    assert not any(r.startswith("<none>") for r in cli("images", "--format", "{{.Repository}}").out.split())
    r = cli("rmi", "pruned:1")
    assert r.returncode == 0, r.err
    deleted = {line[len("Deleted: "):] for line in r.out.splitlines() if line.startswith("Deleted: ")}
    assert made <= deleted  # the three images (and the COPY's layer)
    assert all_images(cli) == before


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_interrupted_build_leaves_no_container(cli, builds, tmp_path, store_root, sig):
    import signal
    import time

    ctx = context(tmp_path / "ctx", {}, "FROM busybox\nRUN echo started; sleep 60\n")
    p = cli.popen("build", "--no-cache", ctx, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                  text=True)
    try:
        deadline = time.time() + 30
        seen = ""
        while "started" not in seen and time.time() < deadline:
            seen += p.stdout.readline()
        assert "started" in seen
        p.send_signal(getattr(signal, sig))
        p.wait(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdout.close()
        p.stderr.close()
    assert p.returncode == 130
    assert cli("ps", "-a", "-q").out == ""
    assert os.listdir(os.path.join(store_root, "tmp")) == []


def test_network_bridge_by_default_none_and_host_on_request(cli, builds, tmp_path):
    ctx = context(tmp_path / "ctx", {}, "FROM busybox\nRUN cat /proc/net/dev | tail -n +3 | "
                                        "cut -d: -f1 | tr -d ' ' | sort > /ifaces\n")
    r = build(cli, ctx, "-q")  # docker's classic builder: RUN on the default bridge
    assert run(cli, r.out.strip(), "cat", "/ifaces") == "eth0\nlo\n"
    r = build(cli, ctx, "-q", "--network", "none")
    assert run(cli, r.out.strip(), "cat", "/ifaces") == "lo\n"
    # The host's links as they stay: the veths of the containers above go with their
    # monitors, after their exit was reported (bounded wait).
    deadline = time.time() + 10
    while time.time() < deadline:
        with open("/proc/net/dev") as f:
            host = sorted(line.split(":")[0].strip() for line in f.read().splitlines()[2:])
        if not any(n.startswith("lbv") for n in host):
            break
        time.sleep(0.05)
    r = build(cli, ctx, "-q", "--network", "host")
    assert run(cli, r.out.strip(), "cat", "/ifaces").split() == host
    r = build(cli, ctx, "--network", "mynet", ok=False)
    assert r.returncode != 0 and '"mynet" is not supported for a build' in r.err


def test_add_from_a_url(cli, builds, tmp_path):
    import http.server

    served = tmp_path / "served"
    served.mkdir()
    (served / "payload.txt").write_text("downloaded\n")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(served), **kw)

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/payload.txt"
        ctx = context(tmp_path / "ctx", {}, f"FROM busybox\nADD {url} /dl/\nADD {url} /renamed\n")
        build(cli, ctx, "-t", "url:1")
        out = run(cli, "url:1", "sh", "-c", "cat /dl/payload.txt /renamed; stat -c %a /dl/payload.txt")
        assert out.splitlines() == ["downloaded", "downloaded", "600"]
        with open(os.path.join(ctx, "Dockerfile"), "w") as f:
            f.write(f"FROM busybox\nADD --checksum=sha256:{'0' * 64} {url} /x\n")
        r = build(cli, ctx, ok=False)
        assert r.returncode == 1 and "digest mismatch" in r.err
    finally:
        server.shutdown()
        server.server_close()
        t.join()


def test_from_an_image_the_store_lacks_pulls_it(cli, store2, builds, tmp_path, tmp_path_factory,
                                                 monkeypatch):
    from test_registry import Registry

    monkeypatch.setenv("LAYERBOX_CONFIG", str(tmp_path / "config"))  # no stored credentials
    reg = Registry(str(tmp_path_factory.mktemp("build-registry")))
    try:
        ref = f"{reg.host}/lb/build-base:1"
        cli("tag", "busybox", ref, check=True)
        try:
            assert cli("push", ref).returncode == 0
        finally:
            cli("rmi", ref)
        ctx = context(tmp_path / "ctx", {}, f"FROM {ref}\nRUN echo built-on-pulled > /x\n")
        r = store2("build", "-t", "pulled-base:1", ctx)
        assert r.returncode == 0, r.err
        assert "1: Pulling from lb/build-base" in r.out
        assert f"Status: Downloaded newer image for {ref}" in r.out
        assert store2("run", "--rm", "pulled-base:1", "cat", "/x").out == "built-on-pulled\n"
        # --pull asks the registry again; the image is the same, so every step is a hit
        r = store2("build", "--pull", ctx)
        assert r.returncode == 0, r.err
        assert f"Status: Image is up to date for {ref}" in r.out and " ---> Using cache" in r.out
    finally:
        reg.stop()


def test_copy_and_workdir_below_existing_directories_keep_them(cli, builds, tmp_path):
    """A COPY or WORKDIR into a path new to the image writes the directories above it into
    its layer as overlayfs's copy-up does: their mode and owner stay the image's (the step's
    layer is the top one, so a changed parent would show in every container)."""
    ctx = context(tmp_path / "ctx", {"src/a.txt": "a\n", "src/sub/b.txt": "b\n", "one.txt": "1\n"},
                  "FROM busybox\n"
                  "RUN mkdir -p /srv/deep && chmod 750 /srv && chown 5:6 /srv && chmod 1777 /srv/deep\n"
                  "COPY src /srv/deep/new/src\n"
                  "COPY one.txt /srv/deep/f/\n"
                  "WORKDIR /srv/deep/w/x\n"
                  "COPY src /fresh\n")
    image = built_id(build(cli, ctx, "--network", "none"))
    out = run(cli, image, "sh", "-c", "stat -c '%n %a %u %g' /srv /srv/deep /srv/deep/new "
              "/srv/deep/new/src /srv/deep/f /srv/deep/w/x /fresh; cat /srv/deep/new/src/sub/b.txt "
              "/srv/deep/f/one.txt /fresh/a.txt; pwd")
    assert out.splitlines() == [
        "/srv 750 5 6", "/srv/deep 1777 0 0", "/srv/deep/new 755 0 0", "/srv/deep/new/src 755 0 0",
        "/srv/deep/f 755 0 0", "/srv/deep/w/x 755 0 0", "/fresh 755 0 0", "b", "1", "a",
        "/srv/deep/w/x"]


def test_run_step_root_is_volatile_and_its_files_are_kept(cli, builds, tmp_path, store_root):
    """A RUN step's container mounts its root with overlayfs' volatile (no sync of the whole
    file system at its unmount): the command sees that, its output shows, what it wrote is in
    the image, and its container, upper and work dirs are gone afterwards."""
    ctx = context(tmp_path / "ctx", {}, "FROM busybox\n"
                                        "RUN grep ' / overlay ' /proc/mounts | grep -o volatile; "
                                        "echo made > /made.txt\n"
                                        "RUN cat /made.txt; echo again >> /made.txt\n")
    containers = os.listdir(os.path.join(store_root, "containers"))
    r = build(cli, ctx, "--no-cache", "-t", "volatile-step:1")
    out = dict(steps(r.out))
    assert "volatile" in out["RUN grep ' / overlay ' /proc/mounts | grep -o volatile; echo made > /made.txt"]
    assert "made" in out["RUN cat /made.txt; echo again >> /made.txt"]
    assert run(cli, "volatile-step:1", "cat", "/made.txt") == "made\nagain\n"
    assert os.listdir(os.path.join(store_root, "containers")) == containers
    cli("rmi", "volatile-step:1")


def _staging(store_root) -> list:
    return [n for n in os.listdir(os.path.join(store_root, "tmp")) if not n.startswith("download-")]


def test_build_leaves_no_staging_behind_once_its_cleanup_ends(cli, builds, tmp_path, store_root):
    """The steps' workspaces and containers are removed after the build answered (by a
    detached child when the removal is not over at its exit): nothing stays in the store."""
    ctx = context(tmp_path / "ctx", {"a/f1": "1", "a/f2": "2"},
                  "FROM busybox\nWORKDIR /w\nCOPY a /w/a\nRUN echo x > /w/x\nRUN cat /w/a/f1\n")
    r = build(cli, ctx, "--no-cache", "-q")
    image = r.out.strip()
    deadline = time.time() + 60
    while _staging(store_root) and time.time() < deadline:
        time.sleep(0.1)
    assert _staging(store_root) == []
    assert run(cli, image, "cat", "/w/x", "/w/a/f2") == "x\n2"
    cli("rmi", image)


@pytest.mark.parametrize("detached", [False, True])
def test_removals_handed_off_at_exit_go_on_in_a_child_that_owns_them(store_root, detached):
    """hand_off_later (the CLI build's exit): the staging dirs still to remove are renamed to
    the child's own names before the caller goes on (the next command's reclaim leaves a live
    process's staging alone), then removed by it. Detached (detach_later_at_exit, as the CLI's
    build asks): no worker removes any of them before, the child takes all three."""
    import subprocess
    import sys

    code = r"""
import os, sys
from layerbox import _util, _core
from layerbox.store import Store, owner
if sys.argv[2] == "detached":
    _util.detach_later_at_exit()
st = Store(sys.argv[1]).ensure()
dirs = [st.mkdtemp("test", os.urandom(4).hex()) for _ in range(3)]
for d in dirs:
    for i in range(2000):
        with open(os.path.join(d, "f%d" % i), "w") as f:
            f.write("x")  # a block to free: the removal waits for the disk's discard
for d in dirs:
    _util.later(_core.remove_tree, d)
print(_util._LATER["thread"] is None)
_util.hand_off_later()
print(owner())
print(" ".join(os.listdir(st.tmp)))
"""
    r = subprocess.run([sys.executable, "-c", code, store_root, "detached" if detached else "-"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    no_worker, parent, left = lines[0], lines[1], lines[2:]
    assert no_worker == str(detached)
    from layerbox.store import owner_alive, staging_owner

    for name in " ".join(left).split():
        if name.startswith("test-"):
            token = staging_owner(name)
            assert token != parent, "a dir left under the name of the process that exited"
    deadline = time.time() + 60
    while [n for n in _staging(store_root) if n.startswith("test-")] and time.time() < deadline:
        time.sleep(0.1)
    assert [n for n in _staging(store_root) if n.startswith("test-")] == []
    assert owner_alive(parent) is False


def test_a_gc_while_a_run_step_runs_keeps_the_builds_images(cli, builds, tmp_path, busybox_tar):
    """A RUN step's container is created from the step image before its record is in place
    (the record comes with the step's own sync). Meanwhile another command collects what no
    image names (rm of a container whose image was removed with rmi -f): the build's images
    stay whole, and a rebuild takes every step from the cache."""
    ctx = context(tmp_path / "ctx", {"f": "data"},
                  "FROM busybox\nENV A=1\nCOPY f /f\nRUN sleep 2; cat /f > /g\nCMD [\"cat\", \"/g\"]\n")
    cli("import", busybox_tar, "gc-victim:1", check=True)
    p = cli.popen("build", "--no-cache", "-t", "gc-during:1", ctx, stdout=subprocess.PIPE,
                  stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 30
    while cli("ps", "-q").out.strip() == "" and time.time() < deadline:
        time.sleep(0.05)  # until the RUN step's container runs
    cid = cli("create", "gc-victim:1", "true", check=True).out.strip()
    cli("rmi", "-f", "gc-victim:1", check=True)
    cli("rm", cid, check=True)  # its image is gone: collects what nothing names
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, (out, err)
    assert run(cli, "gc-during:1") == "data"
    assert cli("system", "check").returncode == 0
    r = build(cli, ctx, "-t", "gc-during:1")
    assert r.out.count(" ---> Using cache") == 4, r.out
    cli("rmi", "gc-during:1")
