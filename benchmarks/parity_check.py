"""The same commands through docker's CLI and through layerbox, their outputs' shapes compared:
exit codes, headers and columns, JSON keys, error messages. A local check (docker is not on CI):

    python3 benchmarks/parity_check.py              # every case, a report on stdout
    python3 benchmarks/parity_check.py -k error -v  # cases whose name has "error", both outputs

`../shared/peers/docker-up` starts dockerd here (it has no bridge: every container of both
engines runs with --network none). Both engines get the same image: the host's busybox-static
imported into a temporary layerbox store, then `layerbox save | docker load`, tagged
lbparity/busybox:1 (removed from docker afterwards, with every container and volume the cases
made; each name starts with "lbparity").

What is compared, after normalizing what differs by nature (ids, digests, times, sizes, the
store's paths): the exit code; stdout line by line (a table's lines with runs of blanks as one,
as widths follow the contents; a JSON document by its key paths); stderr without the prefixes that
differ by design (docker's "Error response from daemon: " and "docker: ", layerbox's
"Error: " on every error, as it has no daemon), usage hints and docker's client log lines.
The docker CLI here may be newer than its daemon (28 and 20.10 on the machine this was
written on): where their words differ, layerbox follows one of them, and the report shows it.
Exit: 0 when every case matches, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile

IMG = "lbparity/busybox:1"
P = "lbparity"  # every name a case makes starts with it
NET = ("--network", "none")


def layerbox_cmd() -> list[str]:
    exe = os.path.join(sysconfig.get_path("scripts"), "layerbox")
    return [exe] if os.access(exe, os.X_OK) else [sys.executable, "-m", "layerbox"]


# A case: a name and its steps; each step is an argv run by both engines (only the last step's
# output is compared unless a step is marked with "!" first: then each marked one is).
# "{img}" is the shared image, "{net}" expands to --network none.
CASES: list[tuple[str, list[list[str]]]] = [
    ("run echo", [["run", "--rm", "{net}", "{img}", "echo", "hello"]]),
    ("run exit code", [["run", "--rm", "{net}", "{img}", "sh", "-c", "exit 3"]]),
    ("run command not found", [["run", "--rm", "{net}", "{img}", "nosuchcommand"]]),
    ("run not executable", [["run", "--rm", "{net}", "{img}", "/etc"]]),
    ("run unknown image (never)", [["run", "--rm", "--pull", "never", "{net}", "lbparity/nosuch:1", "true"]]),
    ("run bad flag", [["run", "--bogus-flag", "{img}"]]),
    ("run bad pull value", [["run", "--pull", "sometimes", "{net}", "{img}", "true"]]),
    ("run bad restart", [["run", "--restart", "sometimes", "{net}", "{img}", "true"]]),
    ("run -v :/data", [["run", "--rm", "{net}", "-v", ":/data", "{img}", "true"]]),
    ("run env and workdir", [["run", "--rm", "{net}", "-e", "A=1", "-w", "/tmp", "{img}", "sh", "-c",
                              "echo $A; pwd"]]),
    ("run user", [["run", "--rm", "{net}", "-u", "1000:50", "{img}", "id"]]),
    ("run hostname", [["run", "--rm", "{net}", "-h", "lbhost", "{img}", "hostname"]]),
    ("run read-only", [["run", "--rm", "{net}", "--read-only", "{img}", "touch", "/x"]]),
    ("run ipc non-shareable donor", [
        ["run", "-d", "{net}", "--name", f"{P}-ipc", "{img}", "sleep", "30"],
        ["!", "run", "--rm", "{net}", "--ipc", f"container:{P}-ipc", "{img}", "true"],
        ["rm", "-f", f"{P}-ipc"]]),
    ("create and inspect state", [
        ["create", "{net}", "--name", f"{P}-c1", "{img}", "true"],
        ["!", "inspect", "-f", "{{.State.Status}} {{.Config.Cmd}} {{.HostConfig.NetworkMode}}", f"{P}-c1"],
        ["!", "ps", "-a", "--filter", f"name=^{P}-c1$", "--format", "{{.Names}}\t{{.Status}}\t{{.Command}}"],
        ["!", "ps", "-a", "--filter", f"name=^{P}-c1$"],
        ["!", "start", "-a", f"{P}-c1"],
        ["!", "inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", f"{P}-c1"],
        ["!", "rm", f"{P}-c1"]]),
    ("running container", [
        ["run", "-d", "{net}", "--name", f"{P}-r1", "{img}", "sh", "-c", "echo out; echo err >&2; sleep 30"],
        ["!", "exec", f"{P}-r1", "echo", "in"],
        ["!", "exec", f"{P}-r1", "sh", "-c", "exit 4"],
        ["!", "exec", f"{P}-r1", "nosuchcommand"],
        ["!", "top", f"{P}-r1", "-o", "comm"],
        ["!", "port", f"{P}-r1"],
        ["!", "pause", f"{P}-r1"],
        ["!", "ps", "--filter", f"name={P}-r1", "--format", "{{.Status}}"],
        ["!", "unpause", f"{P}-r1"],
        ["!", "rename", f"{P}-r1", f"{P}-r2"],
        ["!", "rm", f"{P}-r2"],
        ["!", "kill", f"{P}-r2"],
        ["!", "wait", f"{P}-r2"],
        ["!", "logs", f"{P}-r2"],
        ["!", "exec", f"{P}-r2", "true"],
        ["!", "diff", f"{P}-r2"],
        ["!", "rm", f"{P}-r2"]]),
    ("cp", [
        ["run", "{net}", "--name", f"{P}-cp", "{img}", "sh", "-c", "mkdir /d && echo a > /d/a"],
        ["!", "cp", f"{P}-cp:/nope", "-"],
        ["!", "cp", f"{P}-cp:/d/a", "/nonexistent-dir/x"],
        ["!", "cp", "/nonexistent-file", f"{P}-cp:/d"],
        ["!", "cp", "/etc/hostname", f"{P}-cp:/nodir/"],
        ["!", "cp", f"{P}-cp:/d", f"{P}-cp:/e"],
        ["!", "cp", "/etc/hostname", "/tmp/x"],
        ["rm", "-f", f"{P}-cp"]]),
    ("cp into a read-only volume", [
        ["run", "{net}", "--name", f"{P}-cpro", "-v", f"{P}-rovol:/ro:ro", "--read-only", "{img}", "true"],
        ["!", "cp", "/etc/hostname", f"{P}-cpro:/ro/"],
        ["!", "cp", "/etc/hostname", f"{P}-cpro:/tmp/"],
        ["rm", "-f", f"{P}-cpro"],
        ["volume", "rm", f"{P}-rovol"]]),
    ("errors on a missing container", [
        ["!", "start", f"{P}-nosuch"], ["!", "stop", f"{P}-nosuch"], ["!", "kill", f"{P}-nosuch"],
        ["!", "rm", f"{P}-nosuch"], ["!", "logs", f"{P}-nosuch"], ["!", "pause", f"{P}-nosuch"],
        ["!", "top", f"{P}-nosuch"], ["!", "inspect", f"{P}-nosuch"], ["!", "port", f"{P}-nosuch"],
        ["!", "wait", f"{P}-nosuch"], ["!", "rename", f"{P}-nosuch", f"{P}-x"],
        ["!", "exec", f"{P}-nosuch", "true"], ["!", "diff", f"{P}-nosuch"],
        ["!", "export", f"{P}-nosuch"], ["!", "cp", f"{P}-nosuch:/x", "-"],
        ["!", "restart", f"{P}-nosuch"], ["!", "container", "inspect", f"{P}-nosuch"]]),
    ("errors on a missing image", [
        ["!", "rmi", f"{P}/nosuch:1"], ["!", "tag", f"{P}/nosuch:1", f"{P}/x:1"],
        ["!", "image", "inspect", f"{P}/nosuch:1"], ["!", "history", f"{P}/nosuch:1"],
        ["!", "save", f"{P}/nosuch:1"]]),
    ("errors of arguments", [
        ["!", "ps", "--filter", "bogus=1"], ["!", "ps", "--filter", "status=bogus"],
        ["!", "images", "--filter", "bogus=1"], ["!", "volume", "ls", "--filter", "bogus=1"],
        ["!", "inspect", "--format", "{{.Nope}}", "{img}"], ["!", "rename"],
        ["!", "start"], ["!", "tag", "{img}"], ["!", "nosuchverb"],
        ["!", "run"], ["!", "exec", "x"], ["!", "volume", "create", "bad/name"]]),
    ("images", [
        ["!", "images", "{img}"],
        ["!", "images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}", "{img}"],
        ["!", "images", "-q", "{img}"],
        ["!", "images", "--filter", f"reference={P}/*", "--format", "json"],
        ["!", "image", "inspect", "-f", "{{.Os}}/{{.Architecture}} {{.Config.Cmd}} {{.Config.Env}} "
         "{{.Config.Entrypoint}} {{len .RootFS.Layers}}", "{img}"],
        ["!", "history", "{img}"],
        ["!", "history", "-q", "{img}"],
        ["!", "tag", "{img}", f"{P}/tagged:2"],
        ["!", "rmi", f"{P}/tagged:2"]]),
    ("image inspect keys", [["image", "inspect", "-f", "{{json .}}", "{img}"]]),
    ("container inspect keys", [
        ["create", "{net}", "--name", f"{P}-keys", "{img}", "true"],
        ["!", "inspect", "-f", "{{json .}}", f"{P}-keys"],
        ["rm", f"{P}-keys"]]),
    ("volumes", [
        ["!", "volume", "create", f"{P}-v1"],
        ["!", "volume", "ls", "--filter", f"name={P}-v1"],
        ["!", "volume", "ls", "-q", "--filter", f"name={P}-v1"],
        ["!", "volume", "inspect", "-f", "{{.Name}} {{.Driver}} {{.Scope}} {{.Options}}", f"{P}-v1"],
        ["!", "volume", "inspect", f"{P}-nosuch"],
        ["!", "volume", "rm", f"{P}-v1"],
        ["!", "volume", "rm", f"{P}-v1"],
        ["!", "volume", "create", "-o", "type=nfs", f"{P}-v2"]]),
    ("template functions", [
        ["!", "inspect", "-f", '{{range $k, $v := .Config.Labels}}{{$k}}{{end}}|{{join .Config.Cmd ","}}|'
         '{{upper "a"}}|{{json .Config.Cmd}}|{{index .Config.Cmd 0}}|{{len .RootFS.Layers}}', "{img}"],
        ["!", "version", "--format", "{{.Client.Os}}"]]),
    ("save and load", [
        ["!", "save", "-o", "/nonexistent-dir/x.tar", "{img}"],
        ["!", "load", "-i", "/nonexistent-file.tar"]]),
    ("build (the classic builder)", [
        ["!", "build", "--network", "none", "-t", f"{P}/built:1", "{tmp}/ctx"],
        ["!", "build", "--network", "none", "-q", "{tmp}/ctx"],
        ["!", "history", "--format", "{{.CreatedBy}}", f"{P}/built:1"],
        ["!", "run", "--rm", "{net}", f"{P}/built:1"],
        ["!", "build", "--network", "none", "{tmp}/nosuchdir"],
        ["rmi", f"{P}/built:1"]]),
    # on a terminal (run under script(1)): save refuses one, `save -o` draws nothing (docker's
    # save has no progress), load draws its "Loading layer" lines
    ("save and load on a terminal", [
        ["!", "{tty}", "save", "{img}"],
        ["!", "{tty}", "save", "-o", "{tmp}/tty.tar", "{img}"],
        ["!", "{tty}", "load", "-i", "{tmp}/tty.tar"]]),
]


def expand(argv: list[str], tmp: str) -> list[str]:
    out: list[str] = []
    for a in argv:
        if a == "{net}":
            out.extend(NET)
        else:
            out.append(a.replace("{img}", IMG).replace("{tmp}", tmp))
    return out


_NORMAL = [
    (re.compile(r"sha256:[0-9a-f]{64}"), "sha256:<DIGEST>"),
    (re.compile(r"\b[0-9a-f]{64}\b"), "<ID>"),
    (re.compile(r"\b[0-9a-f]{12}\b"), "<SHORTID>"),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)"), "<TIME>"),
    (re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4} \w+"), "<TIME>"),
    (re.compile(r"(About an?|Less than a|\d+) (second|minute|hour|day|week|month|year)s?( ago)?"), "<DURATION>"),
    (re.compile(r"\b\d+(\.\d+)?\s?(B|kB|KB|MB|GB|KiB|MiB|GiB)\b"), "<SIZE>"),
    (re.compile(r"/var/lib/docker|/tmp/lbparity-[^/ ]+/store"), "<ROOT>"),
    (re.compile(r"\b(pid|PID) \d+"), r"\1 <N>"),
]


def normalize(text: str) -> list[str]:
    for rx, sub in _NORMAL:
        text = rx.sub(sub, text)
    return text.splitlines()


def normalize_err(text: str) -> list[str]:
    """Error lines without the prefixes that differ by design (docker's "Error response from
    daemon: ", "docker: ", a client-side error's missing "Error: "), usage hints, or docker's
    client log lines."""
    out = []
    for line in normalize(text.replace("\r", "")):
        line = line.replace("Error response from daemon: ", "")
        line = re.sub(r"^(docker: )?(Error: )*", "", line)
        if not line.strip() or re.match(r"(Run|See|Try|Usage:) ", line) or line.startswith('time="') \
                or "legacy builder is deprecated" in line or "BuildKit is currently disabled" in line \
                or line.strip() == "environment-variable.":  # the 28 CLI's warning with DOCKER_BUILDKIT=0
            continue
        out.append(line.replace("docker", "<CLI>").replace("layerbox", "<CLI>"))
    return out


def shape(lines: list[str]) -> list[str]:
    """Lines with runs of blanks as one (a table's columns, not their widths); JSON as its key
    paths."""
    joined = "\n".join(lines).strip()
    if joined[:1] in "[{":
        try:
            return sorted(_keys(json.loads(joined)))
        except ValueError:
            pass  # not one JSON document (json lines, text): compared as lines
    return [re.sub(r"\s{2,}", "  ", ln.rstrip()) for ln in lines]  # widths follow the contents


def _keys(v, prefix="") -> set:
    out = set()
    if isinstance(v, dict):
        for k, x in v.items():
            out.add(f"{prefix}.{k}")
            out |= _keys(x, f"{prefix}.{k}")
    elif isinstance(v, list) and v:
        out |= _keys(v[0], prefix + "[]")
    return out


class Engines:
    def __init__(self, docker: str, root: str):
        self.docker = docker
        self.lb = layerbox_cmd()
        # docker's classic builder, whose output layerbox's build writes (BuildKit's differs)
        self.env = dict(os.environ, LAYERBOX_ROOT=root, DOCKER_BUILDKIT="0")

    def run(self, which: str, argv: list[str]) -> subprocess.CompletedProcess:
        tty = argv[:1] == ["{tty}"]
        argv = argv[1:] if tty else argv
        cmd = [self.docker, *argv] if which == "docker" else [*self.lb, *argv]
        if tty:  # on a terminal of its own: script(1) gives it a pty, its output is the pty's
            cmd = ["script", "-qefc", shlex.join(cmd), "/dev/null"]
        r = subprocess.run(cmd, capture_output=True, env=self.env, timeout=120, stdin=subprocess.DEVNULL)
        # a carriage return only redraws a line ("...2.048kB\r\r\n" is one line): not a line
        r.stdout, r.stderr = (re.sub(r"\r+\n", "\n", b.decode(errors="replace")) for b in (r.stdout, r.stderr))
        return r


def setup(eng: Engines, tmp: str) -> None:
    rootfs = os.path.join(tmp, "rootfs")
    os.makedirs(os.path.join(rootfs, "bin"))
    bb = shutil.which("busybox") or "/bin/busybox"
    shutil.copy(bb, os.path.join(rootfs, "bin", "busybox"))
    for a in subprocess.run([bb, "--list"], capture_output=True, text=True, check=True).stdout.split():
        if a != "busybox":
            os.symlink("busybox", os.path.join(rootfs, "bin", a))
    tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
    subprocess.run([*eng.lb, "import", "-c", 'CMD ["sh"]', "-", IMG], stdin=tar.stdout, env=eng.env,
                   check=True, capture_output=True)
    tar.wait()
    os.makedirs(os.path.join(tmp, "ctx"))
    with open(os.path.join(tmp, "ctx", "Dockerfile"), "w") as f:
        f.write(f'FROM {IMG}\nRUN echo built > /x\nCMD ["cat", "/x"]\n')
    archive = os.path.join(tmp, "img.tar")
    subprocess.run([*eng.lb, "save", "-o", archive, IMG], env=eng.env, check=True)
    subprocess.run([eng.docker, "load", "-q", "-i", archive], check=True, capture_output=True)


def cleanup(eng: Engines) -> None:
    d = eng.docker
    ids = subprocess.run([d, "ps", "-aq", "--filter", f"name={P}"], capture_output=True, text=True).stdout.split()
    if ids:
        subprocess.run([d, "rm", "-f", *ids], capture_output=True)
    vols = subprocess.run([d, "volume", "ls", "-q", "--filter", f"name={P}"], capture_output=True,
                          text=True).stdout.split()
    if vols:
        subprocess.run([d, "volume", "rm", "-f", *vols], capture_output=True)
    imgs = subprocess.run([d, "images", "-q", "--filter", f"reference={P}/*"], capture_output=True,
                          text=True).stdout.split()
    if imgs:
        subprocess.run([d, "rmi", "-f", *sorted(set(imgs))], capture_output=True)


def compare(eng: Engines, name: str, steps: list[list[str]], verbose: bool, tmp: str) -> list[str]:
    marked = any(s[:1] == ["!"] for s in steps)
    problems = []
    for i, step in enumerate(steps):
        compared = step[:1] == ["!"] or (not marked and i == len(steps) - 1)
        argv = expand(step[1:] if step[:1] == ["!"] else step, tmp)
        d, lb = eng.run("docker", argv), eng.run("layerbox", argv)
        if not compared:
            continue
        what = " ".join(argv)
        if d.returncode != lb.returncode:
            problems.append(f"{what}: exit {lb.returncode}, docker {d.returncode}")
        if argv[:1] == ["{tty}"]:  # one terminal for both streams: read as error lines
            a, b = normalize_err(d.stdout), normalize_err(lb.stdout)
        else:
            a, b = shape(normalize(d.stdout.replace("\r", ""))), shape(normalize(lb.stdout.replace("\r", "")))
        if a != b and a and b and all(k.startswith(".") for k in a + b):  # JSON: its keys
            problems.append(f"{what}: JSON keys differ\n    only docker's:   {sorted(set(a) - set(b))}\n"
                            f"    only layerbox's: {sorted(set(b) - set(a))}")
        elif a != b:
            problems.append(f"{what}: stdout differs\n    docker:   {a}\n    layerbox: {b}")
        ea, eb = normalize_err(d.stderr), normalize_err(lb.stderr)
        if ea != eb:
            problems.append(f"{what}: stderr differs\n    docker:   {ea}\n    layerbox: {eb}")
        if verbose:
            print(f"  $ {what}\n    docker   [{d.returncode}] {d.stdout!r} {d.stderr!r}\n"
                  f"    layerbox [{lb.returncode}] {lb.stdout!r} {lb.stderr!r}")
    return problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-k", default="", help="only cases whose name contains this")
    ap.add_argument("-v", action="store_true", help="print both engines' outputs")
    ap.add_argument("--docker", default="docker")
    args = ap.parse_args()
    if not shutil.which(args.docker) or subprocess.run([args.docker, "info"], capture_output=True).returncode:
        print("docker does not answer: run ../shared/peers/docker-up first", file=sys.stderr)
        return 2
    tmp = tempfile.mkdtemp(prefix="lbparity-")
    eng = Engines(args.docker, os.path.join(tmp, "store"))
    failed = 0
    try:
        cleanup(eng)
        setup(eng, tmp)
        for name, steps in CASES:
            if args.k not in name:
                continue
            problems = compare(eng, name, steps, args.v, tmp)
            print(f"{'ok  ' if not problems else 'DIFF'} {name}")
            for p in problems:
                print("    " + p)
            failed += bool(problems)
    finally:
        cleanup(eng)
        subprocess.run([*eng.lb, "rm", "-f", *subprocess.run(
            [*eng.lb, "ps", "-aq"], capture_output=True, text=True, env=eng.env).stdout.split()],
            capture_output=True, env=eng.env)
        subprocess.run([*eng.lb, "system", "prune", "-a", "-f", "--volumes"], capture_output=True, env=eng.env)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{failed} of {sum(args.k in n for n, _ in CASES)} cases differ")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
