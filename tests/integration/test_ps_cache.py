"""ps -a's listing cache (the store's ps-cache; csrc/listing/pslist.cpp): what ps -a shows is
what the containers' files say, through create, rename, start and rm, and with a cache that is
damaged, cut short by a crash, or older than the containers it describes.

An entry is made only of a container directory left alone for 2 seconds (a write in the same
clock tick as the listing's stat would not change the stamp), so these tests wait that long
once: without the wait nothing would be cached and the cache's reads would go untested."""

from __future__ import annotations

import os
import time

import pytest
from conftest import Cli

pytestmark = pytest.mark.privileged

FMT = "{{.ID}} {{.Names}} {{.State}} {{.Command}} {{.Image}} {{.Labels}}"


@pytest.fixture
def fresh(tmp_path, busybox_tar):
    c = Cli(str(tmp_path / "store"))
    c("import", busybox_tar, "busybox:latest", check=True)
    yield c
    for cid in c("ps", "-aq", "--no-trunc").out.split():
        c("rm", "-f", cid)


def cache_path(c) -> str:
    return os.path.join(c.root, "ps-cache")


def cache_text(c) -> str:
    with open(cache_path(c)) as f:
        return f.read()


def listing(c) -> list[str]:
    lines = c("ps", "-a", "--no-trunc", "--format", FMT, check=True).out.splitlines()
    return sorted(lines, key=lambda line: line.split()[1])  # by name


def truth(c) -> list[str]:
    """The listing read from the containers' files alone (no cache to read)."""
    saved = None
    if os.path.exists(cache_path(c)):
        saved = cache_text(c)
        os.unlink(cache_path(c))
    try:
        return listing(c)
    finally:
        if saved is not None:
            with open(cache_path(c), "w") as f:
                f.write(saved)


def entries(c) -> int:
    lines = cache_text(c).splitlines()
    assert lines[0] == "layerbox ps cache 2" and lines[-1] == f"end {len(lines) - 2}", lines[-1]
    return len(lines) - 2


def no_staging_left(c) -> bool:
    return not [n for n in os.listdir(os.path.join(c.root, "tmp")) if n.startswith("pscache-")]


def test_ps_a_follows_create_rename_start_and_rm(fresh):
    c = fresh
    ids = {n: c("create", "--name", n, "--label", f"k={n}", "busybox", "echo", n, check=True).out.strip()
           for n in ("ca", "cb", "cc")}
    time.sleep(2.2)
    first = listing(c)
    assert [line.split()[1:3] for line in first] == [["ca", "created"], ["cb", "created"], ["cc", "created"]]
    assert entries(c) == 3 and no_staging_left(c)
    ino = os.stat(cache_path(c)).st_ino
    assert listing(c) == first  # from the cache now
    assert os.stat(cache_path(c)).st_ino == ino  # nothing changed: not rewritten
    table = c("ps", "-a", check=True).out  # the default table reads the cache too
    assert all(f"\"echo {n}\"" in table and table.count(ids[n][:12]) == 1 for n in ids), table

    c("rename", "ca", "ca2", check=True)
    c("start", "cc", check=True)
    c("wait", "cc", check=True)
    c("rm", "cb", check=True)
    after = listing(c)
    assert [line.split()[1:3] for line in after] == [["ca2", "created"], ["cc", "exited"]], after
    assert after == truth(c)
    table = c("ps", "-a").out
    assert " ca2\n" in table and " cb\n" not in table and "Exited (0)" in table, table
    assert ids["cb"] not in cache_text(c) and no_staging_left(c)


def test_a_damaged_cut_or_stale_cache_is_read_past_and_rebuilt(fresh):
    c = fresh
    for n in ("cx", "cy"):
        c("create", "--name", n, "busybox", "true", check=True)
    time.sleep(2.2)
    want = listing(c)
    good = cache_text(c)
    assert entries(c) == 2
    for junk in ("", "garbage\n", good[: len(good) // 2], good.replace("end 2", "end 3"),
                 good.replace('"Name":"/cx"', '"Name":"/cx'), "layerbox ps cache 2\n"):
        with open(cache_path(c), "w") as f:
            f.write(junk)
        assert listing(c) == want, junk
        assert cache_text(c) == good, junk  # rebuilt as it was

    # A cache from before a change (left by a crash, or a copy put back): the renamed
    # container's directory changed since its entry, which is read past.
    c("rename", "cx", "cx2", check=True)
    with open(cache_path(c), "w") as f:
        f.write(good)
    got = listing(c)
    assert got == truth(c) and any(" cx2 " in line for line in got), got
    assert '"/cx"' not in cache_text(c)  # the stale entry is dropped (the new one waits 2 s)
    time.sleep(2.2)
    assert listing(c) == got
    assert entries(c) == 2 and '"/cx2"' in cache_text(c)
