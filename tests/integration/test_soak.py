"""Soak: 8 concurrent CLIs doing a mix of run, exec, commit, tag, rmi, rm and prune on one
store for a bounded time (LAYERBOX_SOAK_SECONDS, default 25). Races between them may fail a
command with a clear error (a container another CLI pruned, an image in use), never with a
traceback; afterwards `system check` is clean and nothing is left behind.
"""

from __future__ import annotations

import collections
import os
import random
import shutil
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import Cli, _monitors

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

WORKERS = 8
SECONDS = float(os.environ.get("LAYERBOX_SOAK_SECONDS", "25"))
# What a command that lost a race may answer: docker's exit codes for an error.
CLEAN_FAILURES = {1, 125}
# The messages such a race gives.
RACE = ("No such container", "No such image", "is not running", "conflict", "Conflict",
        "cannot remove", "You cannot remove a running container", "has no change", "already in use",
        "not in the store", "No such object")


@pytest.fixture
def soak_store(busybox_tar):
    base = tempfile.mkdtemp(prefix="layerbox-soak-")
    c = Cli(os.path.join(base, "store"))
    c("import", busybox_tar, "busybox:latest", check=True)
    yield c
    for cid in c("ps", "-a", "-q", "--no-trunc").out.split():
        c("rm", "-f", cid)
    shutil.rmtree(base)


def test_soak_mixed_commands_then_store_is_clean(soak_store):
    c = soak_store
    stop = time.monotonic() + SECONDS
    counts: collections.Counter = collections.Counter()
    failed: collections.Counter = collections.Counter()
    bad: list = []
    lock = threading.Lock()
    samples: dict = {}

    def call(op, *argv, timeout=60):
        r = c(*argv, timeout=timeout)
        with lock:
            counts[op] += 1
            if r.returncode != 0:
                failed[op] += 1
                clean = r.returncode in CLEAN_FAILURES and "Traceback" not in r.err and any(
                    m in r.err for m in RACE)
                if not clean:
                    bad.append((argv, r.returncode, r.err[-2000:]))
                else:
                    samples.setdefault(op, set()).add(r.err.strip().splitlines()[-1][:90])
        return r

    def worker(w: int):
        rnd = random.Random(w)
        mine: list = []   # containers this worker made
        tags: list = []   # tags this worker made
        n = 0
        while time.monotonic() < stop:
            n += 1
            op = rnd.choice(["run", "run", "run_rm", "exec", "exec", "commit", "commit", "tag", "rmi",
                             "rm", "prune"])
            if op == "run" or (op in ("exec", "commit", "rm") and not mine):
                r = call("run", "run", "-d", "--name", f"soak{w}-{n}", "busybox", "sh", "-c",
                         f"echo {w}-{n} > /f; sleep {rnd.choice(['0', '4', '8'])}")
                if r.returncode == 0:
                    mine.append(r.out.strip())
                    del mine[:-4]  # older ones: left to prune
            elif op == "run_rm":
                r = call("run_rm", "run", "--rm", "busybox", "sh", "-c", "echo x > /tmp/x; cat /tmp/x")
                if r.returncode == 0:
                    assert r.out == "x\n"
            elif op == "exec":
                call("exec", "exec", mine[-1], "cat", "/f")
            elif op == "commit":
                t = f"soak{w}:{n}"
                if call("commit", "commit", rnd.choice(mine), t).returncode == 0:
                    tags.append(t)
            elif op == "tag":
                src = rnd.choice(tags) if tags else "busybox"
                t = f"soak{w}t:{n}"
                if call("tag", "tag", src, t).returncode == 0:
                    tags.append(t)
            elif op == "rmi" and tags:
                call("rmi", "rmi", tags.pop(rnd.randrange(len(tags))))
            elif op == "rm":
                call("rm", "rm", "-f", mine.pop(rnd.randrange(len(mine))))
            elif op == "prune":
                what = rnd.choice([("container", "prune", "-f"), ("image", "prune", "-f"),
                                   ("system", "prune", "-f")])
                call("prune", *what)
        for cid in mine:
            call("rm", "rm", "-f", cid)
        for t in tags:
            call("rmi", "rmi", t)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = sum(counts.values())
    print(f"\nsoak: {WORKERS} CLIs for {SECONDS:.0f} s: {total} commands {dict(counts)}; "
          f"lost races (clean errors): {sum(failed.values())} {dict(failed)}; broken: {len(bad)}")
    for op, msgs in samples.items():
        print(f"  {op}: " + " | ".join(sorted(msgs)[:4]))
    assert not bad, bad[:5]
    assert total > WORKERS * 5

    # Whatever is still there goes; then the store must check clean and hold nothing else.
    for cid in c("ps", "-a", "-q", "--no-trunc").out.split():
        c("rm", "-f", cid, check=True)
    for ref in c("images", "--format", "{{.Repository}}:{{.Tag}}").out.split():
        if ref.startswith("soak"):
            c("rmi", ref, check=True)
    c("image", "prune", "-f", check=True)
    r = c("system", "check")
    assert r.returncode == 0 and r.out.strip() == "no problems found", r.out
    root = c.root
    assert os.listdir(os.path.join(root, "containers")) == []
    assert os.listdir(os.path.join(root, "tmp")) == []
    assert not os.path.isdir(os.path.join(root, "leases")) or os.listdir(os.path.join(root, "leases")) == []
    assert os.listdir(os.path.join(root, "names")) == []
    busybox = c("images", "-q", "--no-trunc").out.split()
    assert len(busybox) == 1 and len(os.listdir(os.path.join(root, "images"))) == 1
    assert len(os.listdir(os.path.join(root, "layers"))) == 1
    assert len(os.listdir(os.path.join(root, "blobs", "sha256"))) == 2  # its layer, its config
    deadline = time.time() + 10
    while _monitors(root) and time.time() < deadline:
        time.sleep(0.1)
    assert not _monitors(root)
    with open("/proc/self/mountinfo") as f:
        assert not [l for l in f if root in l]
