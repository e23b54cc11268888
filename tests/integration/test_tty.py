"""`run -t` / `run -it` / `exec -it`: a pseudo-terminal from the container's own devpts, raw mode
on our side, the terminal size passed, Ctrl-C reaching the container."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import termios
import time

import pytest

pytestmark = pytest.mark.privileged


class Terminal:
    """Runs the CLI on a pseudo-terminal of a given size, as a user's shell would."""

    def __init__(self, cli, *args, rows=33, cols=101):
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.proc = subprocess.Popen([*cli.cmd, *args], stdin=slave, stdout=slave, stderr=slave,
                                     env=cli.env(), start_new_session=True,
                                     preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
        os.close(slave)
        self.buf = b""

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def expect(self, needle: bytes, timeout: float = 10.0) -> bytes:
        end = time.time() + timeout
        while needle not in self.buf:
            left = end - time.time()
            if left <= 0:
                raise AssertionError(f"{needle!r} not seen; got {self.buf!r}")
            r, _, _ = select.select([self.master], [], [], left)
            if r:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"terminal closed before {needle!r}; got {self.buf!r}")
                self.buf += chunk
        i = self.buf.index(needle) + len(needle)
        seen, self.buf = self.buf[:i], self.buf[i:]
        return seen

    def close(self) -> int:
        try:
            code = self.proc.wait(20)
        finally:
            os.close(self.master)
        return code


def test_run_it_shell(cli, busybox_image):
    t = Terminal(cli, "run", "-it", "--rm", "busybox", "sh")
    try:
        t.expect(b"# ")
        t.send(b"tty; stty size; echo $TERM\n")
        out = t.expect(b"xterm")
        assert b"/dev/pts/0" in out
        assert b"33 101" in out
        # Ctrl-C interrupts the foreground command inside, not the CLI
        t.send(b"sleep 100\n")
        time.sleep(0.5)
        t.send(b"\x03")
        t.expect(b"# ")
        t.send(b"echo rc=$?\n")
        assert b"rc=130" in t.expect(b"rc=130")
        t.send(b"exit 5\n")
    finally:
        code = t.close()
    assert code == 5


def test_run_t_without_i(cli, busybox_image):
    r = cli("run", "-t", "--rm", "busybox", "sh", "-c", "echo hi; test -t 1 && echo tty")
    assert r.out == "hi\r\ntty\r\n"
    assert r.returncode == 0


def test_exec_it(cli, busybox_image):
    cid = cli("run", "-d", "busybox", "sleep", "100").out.strip()
    try:
        t = Terminal(cli, "exec", "-it", cid, "sh", rows=20, cols=70)
        t.expect(b"# ")
        t.send(b"stty size; tty\n")
        out = t.expect(b"/dev/pts/")
        assert b"20 70" in out
        t.send(b"exit 3\n")
        assert t.close() == 3
    finally:
        cli("rm", "-f", cid)


def test_detached_tty_container_keeps_its_log(cli, busybox_image):
    cid = cli("run", "-dit", "busybox", "sh").out.strip()
    try:
        assert cli("exec", cid, "echo", "alive").out.strip() == "alive"
        doc = cli("inspect", "-f", "{{.Config.Tty}} {{.Config.OpenStdin}} {{.State.Status}}", cid)
        assert doc.out.split() == ["true", "true", "running"]
    finally:
        cli("rm", "-f", cid)
