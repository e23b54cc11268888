"""push and pull side by side (used by side_by_side.py): the image of issue 15, a busybox base and
a layer of 2000 x 4 KiB and 4 x 32 MiB of random data (made the same way in every engine, by a
shell loop inside a container, then committed), pushed to and pulled from a local
docker-registry on 127.0.0.1 (plain http: loopback is insecure by default for docker and for
us). Each push goes to an empty registry (its storage is wiped and the registry restarted
between repetitions, so nothing is "already there"); each pull goes into an engine that has
just removed the image."""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.request

from bench_layers_sbs import MAKE_LAYER, _engine


class _Registry:
    def __init__(self):
        self.base = tempfile.mkdtemp(prefix="sbs-registry-")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.host = f"127.0.0.1:{self.port}"
        with open(os.path.join(self.base, "config.yml"), "w") as f:
            f.write(f"version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
                    f"storage:\n  filesystem:\n    rootdirectory: {self.base}/data\n"
                    f"http:\n  addr: {self.host}\n")
        self.proc = None

    def start(self):
        shutil.rmtree(os.path.join(self.base, "data"), ignore_errors=True)
        self.proc = subprocess.Popen(["docker-registry", "serve", os.path.join(self.base, "config.yml")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            try:
                urllib.request.urlopen(f"http://{self.host}/v2/", timeout=2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("docker-registry did not start")

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None

    def close(self):
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)


def measure(bench) -> list[dict]:
    reps = 3
    reg = _Registry()
    out = {"push": {}, "pull": {}}
    try:
        for name in ["layerbox", *bench.engines]:
            cmd, env, flags = _engine(bench, name)
            run = lambda *a, **kw: subprocess.run([*cmd, *a], check=True, capture_output=True,  # noqa: E731
                                                  env=env, **kw)
            extra = ["--tls-verify=false"] if name == "podman" else []
            ref = f"{reg.host}/sbs/{name}:1"
            cid = run("run", "-d", *flags, "sbs-busybox", "sh", "-c", MAKE_LAYER, text=True).stdout.strip()
            try:
                run("wait", cid)
                run("commit", cid, ref)
            finally:
                subprocess.run([*cmd, "rm", "-f", cid], capture_output=True, env=env)
            pushes, pulls = [], []
            try:
                for _ in range(reps):
                    reg.start()
                    t = time.perf_counter()
                    run("push", *extra, ref)
                    pushes.append((time.perf_counter() - t) * 1000)
                    run("rmi", "-f", ref)
                    t = time.perf_counter()
                    run("pull", *extra, ref)
                    pulls.append((time.perf_counter() - t) * 1000)
                    reg.stop()
            finally:
                reg.stop()
                subprocess.run([*cmd, "rmi", "-f", ref], capture_output=True, env=env)
            out["push"][name] = statistics.median(pushes)
            out["pull"][name] = statistics.median(pulls)
    finally:
        reg.close()
    return [
        {"what": f"push of a 145 MB image to a local registry (median of {reps})",
         "command": "ENGINE push 127.0.0.1:PORT/sbs/IMAGE:1", "results": out["push"],
         "target": "layerbox <= 0.5 x docker"},
        {"what": f"pull of it, the image removed first (median of {reps})",
         "command": "ENGINE pull 127.0.0.1:PORT/sbs/IMAGE:1", "results": out["pull"],
         "target": "layerbox <= 0.5 x docker"},
    ]
