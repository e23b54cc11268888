"""Many layerbox processes on one store at once, as CI systems use it: no daemon, only locks."""

from __future__ import annotations

import json
import os
import threading

import pytest

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

WORKERS = 8
ROUNDS = 25


def test_concurrent_clis_run_full_lifecycles(cli, busybox_image, store_root):
    failures: list[str] = []

    def worker(w: int) -> None:
        for i in range(ROUNDS):
            name = f"cc-{w}-{i}"
            steps = [
                ("create", "--name", name, "-l", "concurrency=1", "busybox", "sleep", "60"),
                ("start", name),
                ("exec", name, "true"),
                ("ps", "-q", "--filter", f"name={name}"),
                ("inspect", "-f", "{{.State.Status}}", name),
                ("stop", "-t", "0", name),
                ("rm", name),
            ]
            for step in steps:
                r = cli(*step, timeout=60)
                if r.returncode != 0:
                    failures.append(f"{' '.join(step)} -> {r.returncode}: {r.err.strip()}")
                    cli("rm", "-f", name)
                    break
                if step[0] == "inspect" and r.out.strip() != "running":
                    failures.append(f"{name} is {r.out.strip()} after start")
                if step[0] == "ps" and not r.out.strip():
                    failures.append(f"{name} missing from ps")

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    # Nothing of the 200 containers is left, and no state file was ever half-written
    # (every command above parsed every state file it read).
    left = cli("ps", "-a", "-q", "--filter", "label=concurrency=1").out.split()
    assert left == []
    assert not [n for n in os.listdir(os.path.join(store_root, "names")) if n.startswith("cc-")]


def test_concurrent_api_threads(client, busybox_image):
    """8 threads x 25 lifecycles through one Client: create, start, wait, logs, remove."""
    errors: list[BaseException] = []

    def worker(w: int) -> None:
        try:
            for i in range(ROUNDS):
                c = client.containers.create("busybox", ["sh", "-c", f"echo {w}-{i}"],
                                             labels={"api-threads": "1"})
                c.start()
                assert c.wait()["StatusCode"] == 0
                assert c.logs() == f"{w}-{i}\n".encode()
                c.remove()
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert client.containers.list(all=True, filters={"label": "api-threads=1"}) == []


def test_state_files_are_whole_under_churn(cli, busybox_image, store_root):
    """Readers never see a half-written state file while monitors and CLIs write them."""
    stop = threading.Event()
    bad: list[str] = []

    def reader() -> None:
        cdir = os.path.join(store_root, "containers")
        while not stop.is_set():
            for cid in os.listdir(cdir):
                try:
                    with open(os.path.join(cdir, cid, "state.json")) as f:
                        json.loads(f.read())
                except FileNotFoundError:
                    pass
                except ValueError as e:
                    bad.append(f"{cid}: {e}")

    t = threading.Thread(target=reader)
    t.start()
    try:
        for _ in range(30):
            assert cli("run", "--rm", "busybox", "true").returncode == 0
    finally:
        stop.set()
        t.join()
    assert bad == []
