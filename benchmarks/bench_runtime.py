"""OCI runtimes side by side: layerbox-runtime, runc and crun on one bundle (the busybox root,
config.json from `layerbox-runtime spec` running /bin/true), in one run on one machine.

    python3 benchmarks/bench_runtime.py [-n 50] [--write]

Measures the wall time of `RUNTIME run` (create + start + wait + delete), the same in a new user
namespace (ids mapped to 100000+), and of each of create, start, state, kill, delete alone (a
`sleep` container), medians over n repetitions. The runtimes take turns (one repetition of
each in turn), so a change of the machine's load during the run weighs on all three alike.
crun 1.8 refuses this machine's hybrid cgroups, so all three run in a private mount namespace
with /sys/fs/cgroup/unified unmounted there (this script re-executes itself under unshare for
it; runc and layerbox-runtime use the v1 hierarchies either way).
--write replaces the "OCI runtimes" section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))

CGROUP_PARENT = "layerbox-bench-rt"


def layerbox_runtime() -> str:
    exe = os.path.join(sysconfig.get_path("scripts"), "layerbox-runtime")
    return exe if os.access(exe, os.X_OK) else shutil.which("layerbox-runtime")


def make_bundle(d: str, args: list[str], userns: bool = False) -> str:
    from layerbox.testing import make_rootfs

    os.makedirs(d)
    make_rootfs(os.path.join(d, "rootfs"))
    # mount points the root of a user namespace may not create in a rootfs owned by the host's root
    for sub in ("proc", "sys", "dev"):
        os.makedirs(os.path.join(d, "rootfs", sub), exist_ok=True)
    os.chmod(os.path.join(d, "rootfs"), 0o755)
    subprocess.run([layerbox_runtime(), "spec", "--bundle", d], check=True)
    with open(os.path.join(d, "config.json")) as f:
        c = json.load(f)
    c["process"]["args"] = args
    if userns:
        c["linux"]["namespaces"].append({"type": "user"})
        c["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        c["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(c, f)
    return d


def set_cgroup(bundle: str, cid: str) -> None:
    p = os.path.join(bundle, "config.json")
    with open(p) as f:
        c = json.load(f)
    c["linux"]["cgroupsPath"] = f"/{CGROUP_PARENT}/{cid}"
    with open(p, "w") as f:
        json.dump(c, f)


def timed(cmd: list[str], ok: bool = True) -> float:
    # stderr to a file, not a pipe: a created container keeps the runtime's stdio open
    with tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        dt = time.perf_counter() - t
        if (r.returncode != 0) == ok:
            err.seek(0)
            raise SystemExit(f"{' '.join(cmd)}: exit {r.returncode}: {err.read().decode().strip()}")
    return dt


class Subject:
    """One runtime's bundles, state root and timings."""

    def __init__(self, name: str, exe: str, work: str):
        self.name = name
        self.base = [exe, "--root", os.path.join(work, f"state-{name}")]
        self.true_b = make_bundle(os.path.join(work, f"true-{name}"), ["/bin/true"])
        self.userns_b = make_bundle(os.path.join(work, f"userns-{name}"), ["/bin/true"], userns=True)
        self.sleep_b = make_bundle(os.path.join(work, f"sleep-{name}"), ["sleep", "1000"])
        self.out = {k: [] for k in ("run", "run_userns", "create", "start", "state", "kill", "delete",
                                    "version", "state_missing")}

    def run(self, i: int, warm: bool = False) -> None:
        cid = f"{self.name}-{'w' if warm else 'r'}{i}"
        set_cgroup(self.true_b, cid)
        dt = timed(self.base + ["run", "--bundle", self.true_b, cid])
        if warm:  # page cache and cgroup parents
            return
        self.out["run"].append(dt)
        cid = f"{self.name}-u{i}"
        set_cgroup(self.userns_b, cid)
        self.out["run_userns"].append(timed(self.base + ["run", "--bundle", self.userns_b, cid]))

    def lifecycle(self, i: int) -> None:
        cid = f"{self.name}-s{i}"
        base = self.base
        # the binary's own start: a command that reads nothing, and one that fails at once
        self.out["version"].append(timed([base[0], "--version"]))
        self.out["state_missing"].append(timed(base + ["state", cid], ok=False))
        set_cgroup(self.sleep_b, cid)
        self.out["create"].append(timed(base + ["create", "--bundle", self.sleep_b, cid]))
        self.out["start"].append(timed(base + ["start", cid]))
        self.out["state"].append(timed(base + ["state", cid]))
        self.out["kill"].append(timed(base + ["kill", cid, "KILL"]))
        deadline = time.time() + 5
        while time.time() < deadline:
            st = json.loads(subprocess.run(base + ["state", cid], capture_output=True).stdout)
            if st["status"] == "stopped":
                break
            time.sleep(0.005)
        self.out["delete"].append(timed(base + ["delete", cid]))

    def medians(self) -> dict:
        return {k: statistics.median(v) * 1000 for k, v in self.out.items()}


def measure_all(runtimes: dict, n: int, work: str) -> dict:
    """Every runtime in turn, repetition by repetition."""
    subjects = [Subject(name, exe, work) for name, exe in runtimes.items()]
    for i in range(3):
        for s in subjects:
            s.run(i, warm=True)
    for i in range(n):
        for s in subjects:
            s.run(i)
    for i in range(n):
        for s in subjects:
            s.lifecycle(i)
    return {s.name: s.medians() for s in subjects}


def in_private_namespace(n: int, work: str, extra: list[str]) -> dict:
    """crun needs /sys/fs/cgroup/unified gone: all three run in a mount namespace of our own."""
    more = [f"--runtime={e}" for e in extra]
    r = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                        'umount /sys/fs/cgroup/unified && exec "$@"', "sh", sys.executable,
                        os.path.abspath(__file__), "--inside", "-n", str(n), "--work", work, *more],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"the measuring run failed: {r.stderr}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def runtimes(extra: list[str] | None = None) -> dict:
    found = {"layerbox-runtime": layerbox_runtime()}
    for name in ("runc", "crun"):
        if shutil.which(name):
            found[name] = shutil.which(name)
    for e in extra or []:  # --runtime NAME=PATH: another build side by side (main's, for a before/after)
        name, _, path = e.partition("=")
        found[name] = os.path.abspath(path)
    return found


def cleanup_cgroups() -> None:
    for h in os.listdir("/sys/fs/cgroup"):
        p = os.path.join("/sys/fs/cgroup", h, CGROUP_PARENT)
        if os.path.isdir(p):
            for c in os.listdir(p):
                if os.path.isdir(os.path.join(p, c)):
                    os.rmdir(os.path.join(p, c))
            os.rmdir(p)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=50)
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--inside", action="store_true")
    ap.add_argument("--work")
    ap.add_argument("--runtime", action="append", default=[], metavar="NAME=PATH",
                    help="one more runtime in the table (e.g. main's layerbox-runtime)")
    a = ap.parse_args()
    if a.inside:
        print(json.dumps(measure_all(runtimes(a.runtime), a.n, a.work)))
        return
    a.runtime = [f"{e.partition('=')[0]}={os.path.abspath(e.partition('=')[2])}" for e in a.runtime]
    work = tempfile.mkdtemp(prefix="lb-bench-rt-")
    os.chmod(work, 0o755)  # the user namespace's root (host id 100000) must reach the bundles
    try:
        if "crun" in runtimes() and os.path.isdir("/sys/fs/cgroup/unified"):
            res = in_private_namespace(a.n, work, a.runtime)
        else:
            res = measure_all(runtimes(a.runtime), a.n, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        cleanup_cgroups()
    names = list(res)
    lines = ["## OCI runtimes", "",
             f"Generated by `python3 benchmarks/bench_runtime.py -n {a.n}"
             f"{''.join(' --runtime ' + e.partition('=')[0] + '=...' for e in a.runtime)}` on "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; medians of {a.n} in ms, one run, "
             "one bundle (busybox root, `layerbox-runtime spec` config running /bin/true or sleep).", "",
             "| command | " + " | ".join(names) + " | layerbox-runtime / runc | layerbox-runtime / crun |",
             "|---|" + "---|" * (len(names) + 2)]
    labels = {"run": "run (create + start + wait + delete) of /bin/true",
              "run_userns": "the same in a new user namespace", "create": "create", "start": "start",
              "state": "state", "kill": "kill", "delete": "delete (stopped)",
              "version": "--version (the binary's start)", "state_missing": "state of a missing id"}
    for k, label in labels.items():
        row = [f"{res[nm][k]:.1f}" for nm in names]
        lb = res["layerbox-runtime"][k]
        ratio = [f"{lb / res[o][k]:.2f}" if o in res else "" for o in ("runc", "crun")]
        lines.append(f"| {label} | " + " | ".join(row) + " | " + " | ".join(ratio) + " |")
    lines += ["", "All three ran in one private mount namespace with /sys/fs/cgroup/unified unmounted (crun "
              "refuses hybrid cgroups otherwise), taking turns: one repetition of each runtime in turn.", ""]
    text = "\n".join(lines)
    print(text)
    if a.write:
        path = os.path.join(HERE, "RESULTS.md")
        with open(path) as f:
            cur = f.read()
        start = cur.find("## OCI runtimes")
        if start >= 0:
            end = cur.find("\n## ", start + 1)
            cur = cur[:start] + cur[end + 1:] if end >= 0 else cur[:start]
        with open(path, "w") as f:
            f.write(cur.rstrip("\n") + "\n\n" + text)


if __name__ == "__main__":
    main()
