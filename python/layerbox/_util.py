"""Small helpers shared across layerbox, kept free of heavy imports (the hot path loads this)."""

from __future__ import annotations

import _thread
import os
import time

from layerbox import _jsonfast

_EPOCH_ZERO = "0001-01-01T00:00:00Z"


def now_rfc3339() -> str:
    """UTC now with nanoseconds, as docker writes Created/StartedAt."""
    ns = time.time_ns()
    return rfc3339(ns // 1_000_000_000, ns % 1_000_000_000)


def rfc3339(sec: int, nsec: int = 0) -> str:
    t = time.gmtime(sec)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%09dZ" % (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour,
                                                      t.tm_min, t.tm_sec, nsec)


def parse_rfc3339(s: str) -> float:
    """Seconds since the epoch for an RFC 3339 timestamp (UTC 'Z' or an offset); 0 for docker's
    zero time; ValueError when malformed. (core/psrows.cpp: the ps rows read times there.)"""
    from layerbox import _core

    return _core.parse_rfc3339(s)


def sha256(data: bytes = b""):
    """A SHA-256 hash object: Python's own, whose module loads in well under a millisecond,
    where hashlib loads OpenSSL (3 ms) for the few small documents a command hashes (a build's
    cache keys and image configs). Big data goes to the C++ core (SHA-NI)."""
    global sha256
    try:
        from _sha256 import sha256 as impl  # 3.11
    except ImportError:  # pragma: no cover - other Pythons
        try:
            from _sha2 import sha256 as impl  # 3.12+
        except ImportError:
            from hashlib import sha256 as impl
    sha256 = impl
    return impl(data)


def read_json(path: str):
    with open(path, "rb") as f:
        return _jsonfast.loads(f.read())


def write_atomic(path: str, data: bytes, *, fsync: bool = False, mode: int = 0o644) -> None:
    """Write by rename: a reader sees the old content or the new, never half.

    ``fsync`` makes it durable too (image metadata); container state skips it, because after a
    crash the next command reconciles containers anyway and the fsync would cost more than
    the rest of a container start.
    """
    tmp = f"{path}.tmp.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        _write_all(fd, data)
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, path)
    if fsync:
        fsync_dir(os.path.dirname(path))


def _write_all(fd: int, data: bytes) -> None:
    """All of data to fd (a short write goes on)."""
    n = os.write(fd, data)
    if n == len(data):
        return
    view = memoryview(data)[n:]
    while view:
        n = os.write(fd, view)
        view = view[n:]


_tls = None  # a threading.local once a deferral was made (see deferred_dir_syncs)


def fsync_dir(path: str) -> None:
    if _tls is not None and getattr(_tls, "dirs", None) is not None \
            and os.path.normpath(path) in _tls.deferrable:
        _tls.dirs.append(path)  # inside deferred_dir_syncs: once, when it ends
        return
    fd = os.open(path or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class deferred_dir_syncs:
    """Within it (in this thread), fsync_dir of one of `dirs` only notes it; leaving it fsyncs
    each noted one once. For a build's steps: each step's image record made the images
    directory durable again (7 fsyncs of one directory a build of the benchmark Dockerfile).
    Only a directory of entries nothing durable depends on may be deferred: a step's record
    whose rename is lost when the machine stops is an image that is not there (a cache miss),
    never half a one, since every file is still fsynced before its rename and the blobs and
    layers a record names are made durable before it is written, whatever the file system
    orders. The caller writes tags after it: a tag is durable only after what it names."""

    def __init__(self, *dirs: str):
        self.dirs = frozenset(os.path.normpath(d) for d in dirs)

    def __enter__(self):
        global _tls
        if _tls is None:
            _tls = _thread._local()  # threading.local itself; the threading module costs 2-4 ms
        self._outer = getattr(_tls, "dirs", None)
        if self._outer is None:
            _tls.dirs = []
            _tls.deferrable = self.dirs
        return self

    def __exit__(self, *exc):
        if self._outer is None:
            dirs, _tls.dirs = _tls.dirs, None
            for d in dict.fromkeys(dirs):  # on failure too: what was published stays published
                fsync_dir(d)


def dump_json(obj) -> bytes:
    return _jsonfast.dumps(obj).encode()


_DECIMAL_UNITS = ("B", "kB", "MB", "GB", "TB", "PB")
_BINARY_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def _scaled(n: float, base: float, units: tuple) -> tuple:
    """docker's units.CustomSize: n divided by base until below it, and the unit reached."""
    i = 0
    n = float(n)
    while n >= base and i < len(units) - 1:
        n /= base
        i += 1
    return n, units[i]


def human_size(n: float, precision: int = 3) -> str:
    """docker's units.HumanSizeWithPrecision: decimal units; 3 significant digits as its
    tables print sizes ("2.13MB", "0B"), 4 as HumanSize does in progress lines ("2.048kB")."""
    n, unit = _scaled(n, 1000.0, _DECIMAL_UNITS)
    s = f"{n:.{precision}g}"
    if "e" in s:
        s = str(int(round(n)))
    return s + unit


def bytes_size(n: float) -> str:
    """docker's units.BytesSize: binary units, 4 significant digits ("7.772GiB")."""
    n, unit = _scaled(n, 1024.0, _BINARY_UNITS)
    return f"{n:.4g}{unit}"


def parallel(items, fn, workers: int) -> list:
    """fn over items, `workers` at a time (threads: for work that is C++ without the GIL, or
    network waits). All run to the end; the first failure is raised after that."""
    if len(items) <= 1:
        return [fn(x) for x in items]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(workers, len(items))) as ex:
        futures = [ex.submit(fn, x) for x in items]
        errors, results = [], []
        for f in futures:
            try:
                results.append(f.result())
            except BaseException as e:  # noqa: BLE001 - raised below, after the others end
                errors.append(e)
                results.append(None)
    if errors:
        raise errors[0]
    return results


class Spawned:
    """A thread started by spawn(): join() returns once its function has returned."""

    __slots__ = ("_done",)

    def __init__(self):
        self._done = _thread.allocate_lock()
        self._done.acquire()

    def join(self) -> None:
        self._done.acquire()
        self._done.release()


def spawn(fn, *args) -> Spawned:
    """fn(*args) on a new thread of this process (a daemon: nothing waits for it at exit),
    from the _thread module: the threading module costs 3-4 ms to import and its start()
    waits until the new thread runs, neither of which a command's hot path needs. fn must
    keep its exceptions to itself (hand them to whoever joins)."""
    h = Spawned()

    def run():
        try:
            fn(*args)
        finally:
            h._done.release()

    _thread.start_new_thread(run, ())
    return h


def start_producer(produce):
    """A pipe whose write end produce(fd) fills from a thread, closing it when done (so the
    reader sees EOF). Returns (read fd, thread, errors: where the thread's exception lands)."""
    r, w = os.pipe()
    err: list = []

    def run():
        try:
            produce(w)
        except BaseException as e:  # noqa: BLE001 - handed to whoever reads
            err.append(e)
        finally:
            os.close(w)

    return r, spawn(run), err


def pump(produce, consume):
    """produce(write_fd) in a thread, consume(read_fd) here, over a pipe; the producer's error
    wins (the consumer then only saw a cut-off stream)."""
    r, t, err = start_producer(produce)
    try:
        result = consume(r)
    except BaseException:
        os.close(r)
        r = -1
        t.join()
        if err and not isinstance(err[0], BrokenPipeError):
            raise err[0] from None
        raise
    finally:
        if r >= 0:
            os.close(r)
    t.join()
    if err:
        raise err[0]
    return result


class _Condition:
    """threading.Condition's wait and notify_all over _thread locks (see spawn)."""

    __slots__ = ("_lock", "_waiters")

    def __init__(self):
        self._lock = _thread.allocate_lock()
        self._waiters: list = []

    def __enter__(self):
        self._lock.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self._lock.release()

    def wait(self) -> None:
        """Called with the lock held; holds it again when notified."""
        w = _thread.allocate_lock()
        w.acquire()
        self._waiters.append(w)
        self._lock.release()
        try:
            w.acquire()
        finally:
            self._lock.acquire()

    def notify_all(self) -> None:
        for w in self._waiters:
            w.release()
        self._waiters.clear()


_LATER: dict = {}  # this process's worker for `later`: pid, condition, jobs, thread
_LATER_INIT = _thread.allocate_lock()  # its first use by two threads at once


def _later_forked() -> None:
    global _LATER_INIT
    _LATER_INIT = _thread.allocate_lock()  # another thread may have held it at the fork


os.register_at_fork(after_in_child=_later_forked)


def later(fn, *args) -> None:
    """Runs fn(*args) on a worker thread of this process, in order, after the caller went on:
    for work whose result nobody waits for (a removed container's files, already renamed out
    of sight into staging of ours). Done before the process exits (atexit) and before it forks;
    a crash leaves it to the next command, as any staging of a dead owner. Failures are
    dropped: what stays is such staging too.

    In a command that hands its removals to a detached child at its exit
    (detach_later_at_exit: the CLI's build), a removal only waits in the list for that: no
    thread, and no removal competing with the command for the CPU and the disk before it
    answers."""
    st = _LATER
    with _LATER_INIT:
        if st.get("pid") != os.getpid():
            st.clear()
            st.update(pid=os.getpid(), cv=_Condition(), jobs=[], busy=False, thread=None)
            if not _LATER_HOOKED:
                import atexit

                atexit.register(finish_later)
                os.register_at_fork(before=finish_later)
                _LATER_HOOKED.append(True)
    with st["cv"]:
        st["jobs"].append((fn, args))
        if st["thread"] is None and not (_DETACH_AT_EXIT and _is_removal(fn)):
            st["thread"] = spawn(_later_worker, st)
        st["cv"].notify_all()


def _is_removal(fn) -> bool:
    """A job hand_off_later can give to its child: the removal of a staging dir of ours."""
    from layerbox import _core

    return fn in (_core.remove_tree, os.rmdir)


_LATER_HOOKED: list = []


def _later_worker(st: dict) -> None:
    cv = st["cv"]
    while True:
        with cv:
            while not st["jobs"]:
                cv.wait()
            fn, args = st["jobs"].pop(0)
            st["busy"] = (fn, args)
        try:
            fn(*args)
        except BaseException:  # noqa: BLE001 - see later(): what stays is staging of ours
            pass
        with cv:
            st["busy"] = False
            cv.notify_all()


def finish_later() -> None:
    """Waits until this process's `later` work is done."""
    st = _LATER
    if st.get("pid") != os.getpid() or _HANDING_OFF:
        return
    with st["cv"]:
        if st["thread"] is None:
            if not st["jobs"]:
                return
            st["thread"] = spawn(_later_worker, st)  # removals left for a hand-off (see later)
        while st["jobs"] or st["busy"]:
            st["cv"].wait()


_HANDING_OFF: list = []  # hand_off_later's fork: finish_later (the at-fork hook) must not wait
_DETACH_AT_EXIT: list = []


def detach_later_at_exit() -> None:
    """The command's `later` work is handed to a detached child at its exit (hand_off_later)
    instead of being waited for (the CLI's run_and_exit)."""
    _DETACH_AT_EXIT[:] = [True]


def end_later() -> None:
    """At the CLI's exit: hand_off_later when the command asked for it, else finish_later."""
    if _DETACH_AT_EXIT:
        hand_off_later()
    else:
        finish_later()


def hand_off_later() -> None:
    """For a command about to exit (the CLI's build): what `later` has not done yet, all of it
    removals of staging dirs of ours in the store's tmp/, goes on in a detached child instead
    of the caller waiting for it (each unlink that frees blocks waits for the disk's discard
    here: 0-500 ms at the end of a build under load, after its answer was printed).

    The child gets the dirs before this process exits: each is renamed to a staging name of
    the child's own (<kind>-<child pid>-<start>-<name>), so the next command's reclaim (which
    removes the staging of processes that are gone) leaves them to it; killed, it leaves them
    to that reclaim like any crash. The renames are made here, right after the fork (the
    child's start time is known then), and the child starts removing when our end of a pipe
    closes: we never wait for the child to be scheduled (a few ms on a busy machine). It has
    no stdio and no other fd of ours (a caller reading our output sees its end when we exit)
    and a session of its own. Any job that is not such a removal, or a fork that fails: the
    work is done here, as before."""
    st = _LATER
    if st.get("pid") != os.getpid():
        return
    with st["cv"]:
        jobs = ([st["busy"]] if st["busy"] else []) + list(st["jobs"])
        if not jobs or not all(_is_removal(fn) for fn, _args in jobs):
            jobs = None
        else:
            st["jobs"].clear()  # ours now; the one in flight may finish meanwhile (both tolerate it)
    if jobs is None:
        finish_later()
        return
    from layerbox import _core
    from layerbox.store import owner, staging_owner

    me = owner()

    def moved(path: str, token: str) -> str:
        """path renamed to the staging name of the owner token, or path when not ours."""
        head, name = os.path.split(path)
        if staging_owner(name) != me:
            return path
        parts = name.rsplit("-", 3)
        return os.path.join(head, f"{parts[0]}-{token}-{parts[3]}")

    r, w = os.pipe2(os.O_CLOEXEC)
    _HANDING_OFF.append(True)
    try:
        pid = os.fork()
    except OSError:
        pid = -1
    finally:
        _HANDING_OFF.clear()
    if pid == 0:  # the child: never returns
        try:
            os.close(w)
            os.setsid()
            null = os.open("/dev/null", os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            os.closerange(3, r)
            os.closerange(r + 1, 1 << 20)
            while os.read(r, 1):
                pass  # until EOF: the parent renamed the dirs to our names (or died)
            mine = owner()
            for fn, (path,) in jobs:
                # ours now; where a rename failed, the dir is where it was (or gone)
                for p in dict.fromkeys((moved(path, mine), path)):
                    try:
                        fn(p)
                    except BaseException:  # noqa: BLE001 - what stays is staging of a gone process
                        pass
        finally:
            os._exit(0)
    os.close(r)
    if pid < 0:
        os.close(w)
        for fn, args in jobs:
            try:
                fn(*args)
            except BaseException:  # noqa: BLE001 - see later()
                pass
        finish_later()
        return
    try:
        start = _core.process_start_time(pid)
        if not start:
            return  # killed already: the dirs stay ours, for the next command's reclaim
        for _fn, (path,) in jobs:
            try:
                os.rename(path, moved(path, f"{pid}-{start}"))
            except OSError:
                pass  # gone already (the job in flight), or not ours to take
    finally:
        os.close(w)  # the child goes on (if it could not be named: the next reclaim does it)


def human_duration(seconds: float) -> str:
    """docker's units.HumanDuration ("Less than a second", "3 seconds", "About a minute", ...);
    one implementation with the ps rows' (core/psrows.cpp)."""
    from layerbox import _core

    return _core.human_duration(seconds)


def flock_held(path: str, *, by_writer_only: bool = False) -> bool:
    """Whether someone holds the flock on `path` (a container directory's lock, for one):
    probed without waiting and released at once. `by_writer_only`: only an exclusive holder
    counts (a shared holder, such as a reader, does not). False when `path` cannot be opened."""
    import fcntl

    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, (fcntl.LOCK_SH if by_writer_only else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def short_id(full: str) -> str:
    if full.startswith("sha256:"):
        full = full[7:]
    return full[:12]


def go_quote(s: str) -> str:
    """Go's strconv.Quote (%q) for what docker quotes: messages, ps's COMMAND, templates (one
    implementation with the ps rows', core/psrows.cpp)."""
    from layerbox import _core

    return _core.go_quote(s)
