"""layerbox side by side with docker and podman (when they are installed), in one run.

    python3 benchmarks/side_by_side.py                 # all, writes benchmarks/RESULTS.md
    python3 benchmarks/side_by_side.py --only run,exec --no-write

Every engine gets the same image (the host's busybox-static imported with `import`), the same
commands and the same number of repetitions; medians are reported. All engines run with
--network none, except the `net` rows, which compare the default bridges (and churn through
the Engine API on it: layerbox's `system service` against dockerd, 30 of docker's).
`../shared/peers/docker-up` installs and starts both on this kind of machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def layerbox_cmd() -> list[str]:
    exe = os.path.join(sysconfig.get_path("scripts"), "layerbox")
    return [exe] if os.access(exe, os.X_OK) else [sys.executable, "-m", "layerbox"]


def engine_ok(name: str) -> bool:
    if not shutil.which(name):
        return False
    return subprocess.run([name, "info"], capture_output=True).returncode == 0


def timed(cmd: list[str], n: int, env=None, warmup: int = 2) -> float:
    """Median wall time of `cmd` in ms."""
    for _ in range(warmup):
        subprocess.run(cmd, check=True, capture_output=True, env=env)
    times = []
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env=env)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def timed_interleaved(cmds: dict, n: int, env=None, warmup: int = 2) -> dict:
    """Median wall time in ms of each command, the commands taking turns."""
    for _ in range(warmup):
        for cmd in cmds.values():
            subprocess.run(cmd, check=True, capture_output=True, env=env)
    times: dict = {k: [] for k in cmds}
    for _ in range(n):
        for k, cmd in cmds.items():
            t = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True, env=env)
            times[k].append((time.perf_counter() - t) * 1000)
    return {k: statistics.median(v) for k, v in times.items()}


class Bench:
    def __init__(self, root: str, reps: int):
        self.root = root
        self.reps = reps
        self.env = dict(os.environ, LAYERBOX_ROOT=root)
        self.lb = layerbox_cmd()
        self.engines = [e for e in ("docker", "podman") if engine_ok(e)]
        self.rows: list[dict] = []
        self.notes: list[str] = []
        self.dir = ""

    def setup(self) -> None:
        from layerbox.testing import make_rootfs, tar_of

        self.dir = d = tempfile.mkdtemp(prefix="sbs-")
        make_rootfs(os.path.join(d, "rootfs"))
        self.tar = os.path.join(d, "busybox.tar")
        with open(self.tar, "wb") as f:
            f.write(tar_of(os.path.join(d, "rootfs")))
        subprocess.run([*self.lb, "import", self.tar, "sbs-busybox:latest"], check=True,
                       capture_output=True, env=self.env)
        for e in self.engines:
            subprocess.run([e, "import", self.tar, "sbs-busybox:latest"], check=True,
                           capture_output=True)

    def add(self, what: str, command: str, results: dict, unit: str = "ms", better: str = "lower",
            target: str = "") -> None:
        self.rows.append({"what": what, "command": command, "results": results, "unit": unit,
                          "better": better, "target": target})
        shown = ", ".join(f"{k} {v:.1f} {unit}" for k, v in results.items())
        print(f"{what}: {shown}", flush=True)

    # -- the measurements -------------------------------------------------------------------
    def run_true(self) -> None:
        res = {"layerbox": timed([*self.lb, "run", "--rm", "--network", "none", "sbs-busybox",
                                  "/bin/true"], self.reps, self.env)}
        for e in self.engines:
            res[e] = timed([e, "run", "--rm", "--network", "none", "sbs-busybox", "/bin/true"],
                           max(5, self.reps // 3))
        self.add("run --rm IMAGE /bin/true (median wall time)",
                 "layerbox|docker|podman run --rm --network none IMAGE /bin/true",
                 res, target="layerbox <= 0.1 x docker")

    def net(self) -> None:
        """run --rm on the default bridge, with a published port, and --network none, against
        podman's default bridge (netavark) and docker's where they have one. layerbox runs in a
        network namespace of this benchmark's own (lo up), so its bridge and rules go with it;
        the peers run first, in the host's."""
        n = max(5, self.reps // 3)
        peers: dict = {"bridge": {}, "publish": {}}
        for e in self.engines:
            try:
                peers["bridge"][e] = timed([e, "run", "--rm", "sbs-busybox", "/bin/true"], n)
                peers["publish"][e] = timed([e, "run", "--rm", "-p", "18765:80", "sbs-busybox",
                                             "/bin/true"], n)
            except subprocess.CalledProcessError:
                self.notes.append(f"{e} has no bridge network here")
        if "docker" in peers["bridge"]:  # its Engine API on its bridge, as layerbox's below
            peers.setdefault("api churn", {})["docker"] = self._docker_churn(30, "bridge")
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(0x40000000) != 0:  # CLONE_NEWNET
            raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNET)")
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        # Interleaved, so a change in the machine's load weighs on the three alike.
        lb = timed_interleaved({
            "none": [*self.lb, "run", "--rm", "--network", "none", "sbs-busybox", "/bin/true"],
            "bridge": [*self.lb, "run", "--rm", "sbs-busybox", "/bin/true"],
            "publish": [*self.lb, "run", "--rm", "-p", "18765:80", "sbs-busybox", "/bin/true"],
        }, self.reps, self.env)
        self.add("run --rm --network none IMAGE /bin/true (median wall time)",
                 "layerbox run --rm --network none IMAGE /bin/true", {"layerbox": lb["none"]})
        self.add("run --rm IMAGE /bin/true on the default bridge (median wall time)",
                 "layerbox|docker|podman run --rm IMAGE /bin/true",
                 {"layerbox": lb["bridge"], **peers["bridge"]}, target="layerbox <= 0.1 x podman")
        self.add("run --rm -p 18765:80 IMAGE /bin/true on the default bridge (median wall time)",
                 "layerbox|docker|podman run --rm -p 18765:80 IMAGE /bin/true",
                 {"layerbox": lb["publish"], **peers["publish"]}, target="layerbox <= 0.1 x podman")
        self.api_churn(peers.get("api churn", {}))

    def api_churn(self, peers: dict) -> None:
        """create/start/wait/remove of /bin/true through the Engine API on the default bridge,
        one worker (the Docker SDK against `layerbox system service`), then what is left: in
        the network namespace `net` made, so the links, claims and rules counted are ours."""
        from churn import api_churn

        n = 1000
        r = api_churn(self.root, n, image="sbs-busybox")
        left = ", ".join(f"{k} {v}" for k, v in r["left"].items())
        self.add(f"API churn: create/start/wait/remove of /bin/true through the Engine API, 1 "
                 f"worker, default bridge, {n} containers (failed {r['failed']}; left: {left})",
                 f"python3 benchmarks/churn.py -n {n} --api", {"layerbox": r["per_second"], **peers},
                 unit="/s", better="higher", target=">= 100/s, nothing left")

    def exec_true(self) -> None:
        res = {}
        cid = subprocess.run([*self.lb, "run", "-d", "--network", "none", "sbs-busybox", "sleep", "1000"], check=True,
                             capture_output=True, text=True, env=self.env).stdout.strip()
        try:
            res["layerbox"] = timed([*self.lb, "exec", cid, "/bin/true"], self.reps, self.env)
        finally:
            subprocess.run([*self.lb, "rm", "-f", cid], capture_output=True, env=self.env)
        for e in self.engines:
            c = subprocess.run([e, "run", "-d", "--network", "none", "sbs-busybox", "sleep", "1000"],
                               check=True, capture_output=True, text=True).stdout.strip()
            try:
                res[e] = timed([e, "exec", c, "/bin/true"], max(5, self.reps // 3))
            finally:
                subprocess.run([e, "rm", "-f", c], capture_output=True)
        self.add("exec CONTAINER /bin/true (median wall time)",
                 "layerbox|docker|podman exec CONTAINER /bin/true", res,
                 target="layerbox <= 0.25 x docker")

    def ps(self) -> None:
        res = {"layerbox": timed([*self.lb, "ps"], self.reps, self.env)}
        for e in self.engines:
            res[e] = timed([e, "ps"], max(5, self.reps // 3))
        self.add("ps (median wall time)", "layerbox|docker|podman ps", res)

    def churn(self) -> None:
        from churn import churn

        for workers, n in ((1, 1000), (4, 1000)):
            r = churn(self.root, n, workers, image="sbs-busybox")
            res = {"layerbox": r["per_second"]}
            if workers == 1 and "docker" in self.engines:
                res["docker"] = self._docker_churn(30)
            left = ", ".join(f"{k} {v}" for k, v in r["left"].items())
            self.add(f"churn: create/start/wait/remove of /bin/true, {workers} worker(s), "
                     f"{n} containers (failed {r['failed']}; left: {left})",
                     f"python3 benchmarks/churn.py -n {n} -w {workers}", res, unit="/s",
                     better="higher", target=">= 150/s" if workers == 1 else ">= 300/s")

    def _docker_churn(self, n: int, network: str = "none") -> float:
        try:
            import docker  # the Docker SDK, when installed
        except ImportError:
            t = time.perf_counter()
            for _ in range(n):
                subprocess.run(["docker", "run", "--rm", "--network", network, "sbs-busybox",
                                "/bin/true"], check=True, capture_output=True)
            return n / (time.perf_counter() - t)
        client = docker.from_env()
        t = time.perf_counter()
        for _ in range(n):
            c = client.containers.create("sbs-busybox", ["/bin/true"], network_mode=network)
            c.start()
            c.wait()
            c.remove()
        return n / (time.perf_counter() - t)

    def layers(self) -> None:
        try:
            import bench_layers_sbs
        except ImportError:
            self.notes.append("layer benchmarks (commit/save/export) not available")
            return
        for row in bench_layers_sbs.measure(self):
            self.add(**row)

    def registry(self) -> None:
        import bench_registry_sbs

        for row in bench_registry_sbs.measure(self):
            self.add(**row)

    def build(self) -> None:
        try:
            import bench_build_sbs
        except ImportError:
            self.notes.append("build benchmarks not available")
            return
        for row in bench_build_sbs.measure(self):
            self.add(**row)

    def cleanup(self) -> None:
        subprocess.run([*self.lb, "rmi", "-f", "sbs-busybox"], capture_output=True, env=self.env)
        for e in self.engines:
            subprocess.run([e, "rmi", "-f", "sbs-busybox"], capture_output=True)
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)  # the image's rootfs and tar (setup)


def machine() -> str:
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    fav = "favordynmods" in open("/proc/mounts").read()
    return (f"{platform.node()}: {os.cpu_count()} CPUs ({cpu}), kernel {platform.release()}, "
            f"Python {platform.python_version()}, cgroup2 favordynmods: {'on' if fav else 'off'}")


def write_results(b: Bench, path: str) -> None:
    engines = ["layerbox"] + b.engines
    lines = [
        "# Benchmark results",
        "",
        f"Generated by `python3 benchmarks/side_by_side.py` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        f"Machine: {machine()}.",
        f"Engines measured: {', '.join(engines)}"
        + ("" if b.engines else " (docker/podman not installed: run ../shared/peers/docker-up)") + ".",
        "",
        "| what | " + " | ".join(engines) + " | ratio to docker | target |",
        "|---|" + "---|" * len(engines) + "---|---|",
    ]
    for r in b.rows:
        cells = []
        for e in engines:
            v = r["results"].get(e)
            cells.append("" if v is None else f"{v:.1f} {r['unit']}")
        ratio = ""
        if "docker" in r["results"] and "layerbox" in r["results"] and r["results"]["docker"]:
            q = r["results"]["layerbox"] / r["results"]["docker"]
            ratio = f"{q:.3f}" if r["better"] == "lower" else f"{q:.1f}x"
        lines.append(f"| {r['what']} | " + " | ".join(cells) + f" | {ratio} | {r['target']} |")
    extra = os.path.join(HERE, "RESULTS.notes.md")
    notes = open(extra).read().strip() if os.path.exists(extra) else ""
    for section in measured_sections(path, notes):
        lines += ["", section]
    lines += ["", "## Commands", ""]
    lines += [f"- {r['what']}: `{r['command']}`" for r in b.rows]
    if b.notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in b.notes]
    if notes:
        lines += ["", notes]
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, path)
    print(f"wrote {path}")


GENERATED_SECTIONS = ("## Commands", "## Notes")


def measured_sections(path: str, notes: str) -> list:
    """The sections of the RESULTS.md at `path` that this script did not write: the dated
    measurements each change adds by hand (its figures before and after), kept in their order
    under the new table. What it writes (the table, its commands and notes, RESULTS.notes.md)
    is written anew."""
    try:
        with open(path) as f:
            old = f.read()
    except FileNotFoundError:
        return []
    ours = set(GENERATED_SECTIONS) | {line for line in notes.splitlines() if line.startswith("## ")}
    sections: list = []
    for line in old.splitlines():
        if line.startswith("## "):
            sections.append([line])
        elif sections:
            sections[-1].append(line)
    return ["\n".join(s).strip() for s in sections if s[0] not in ours]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", help="comma-separated: run,exec,ps,churn,layers,registry,build,net")
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    root = tempfile.mkdtemp(prefix="layerbox-sbs-")
    os.environ.setdefault("LAYERBOX_CGROUP_PARENT", f"layerbox-sbs-{os.getpid()}")
    b = Bench(root, args.reps)
    b.setup()
    # churn first: the other rows start docker and podman containers whose teardown (network
    # namespaces above all) goes on in the kernel for a while and would weigh on it
    # net last: it moves this process into a network namespace of its own
    todo = (args.only or "churn,run,exec,ps,layers,registry,build,net").split(",")
    try:
        for name in todo:
            {"run": b.run_true, "exec": b.exec_true, "ps": b.ps, "churn": b.churn,
             "layers": b.layers, "registry": b.registry, "build": b.build, "net": b.net}[name]()
    finally:
        b.cleanup()
        from churn import remove_cgroup_parent
        from layerbox import _core

        _core.remove_tree(root)
        remove_cgroup_parent(os.environ["LAYERBOX_CGROUP_PARENT"])
    if not args.no_write:
        write_results(b, os.path.join(HERE, "RESULTS.md"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
