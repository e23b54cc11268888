"""`layerbox run` as a user sees it: real namespaces, a real overlay, real cgroups."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

pytestmark = pytest.mark.privileged


def run(cli, *args, **kw):
    return cli("run", "--rm", *args, **kw)


def test_pid_one_and_default_hostname(cli, busybox_image):
    r = run(cli, "busybox", "sh", "-c", "echo $$; hostname")
    assert r.returncode == 0, r.err
    pid, hostname = r.out.split()
    assert pid == "1"
    assert len(hostname) == 12 and all(c in "0123456789abcdef" for c in hostname)


def test_hostname_option(cli, busybox_image):
    r = run(cli, "--hostname", "box1", "busybox", "sh", "-c", "hostname; cat /etc/hostname")
    assert r.out.split() == ["box1", "box1"]


def test_host_mounts_invisible(cli, busybox_image, store_root):
    r = run(cli, "busybox", "cat", "/proc/self/mountinfo")
    assert r.returncode == 0
    points = [line.split()[4] for line in r.out.splitlines()]
    assert "/" in points and "/proc" in points and "/dev" in points
    for p in points:
        assert not p.startswith(store_root), p
        assert p.split("/")[1] in ("", "proc", "dev", "sys", "etc"), p
    # the host's root, its /work and /tmp are not there
    r = run(cli, "busybox", "ls", "/")
    assert "work" not in r.out.split()


def test_writes_stay_in_the_container_layer(cli, busybox_image, store_root):
    name = "writer"
    r = cli("run", "--name", name, "busybox", "sh", "-c",
            "echo changed > /etc/motd; rm /bin/vi; echo new > /newfile")
    assert r.returncode == 0, r.err
    try:
        # the image's layer is untouched
        layer = _image_store(store_root).record(busybox_image)["Layers"][0]
        layer_dir = os.path.join(store_root, "layers", layer.split(":")[1], "diff")
        assert not os.path.exists(os.path.join(layer_dir, "newfile"))
        assert not os.path.exists(os.path.join(layer_dir, "etc", "motd"))
        assert os.path.lexists(os.path.join(layer_dir, "bin", "vi"))
        # the writes are in this container's upper dir
        cid = cli("inspect", "-f", "{{.Id}}", name).out.strip()
        upper = os.path.join(store_root, "containers", cid, "upper")
        with open(os.path.join(upper, "newfile")) as f:
            assert f.read() == "new\n"
        # and a second container does not see them
        r2 = run(cli, "busybox", "sh", "-c", "cat /newfile; ls /bin/vi; cat /etc/motd")
        assert "new" not in r2.out
        assert "/bin/vi" in r2.out
    finally:
        cli("rm", name, check=True)


def test_rm_container_root_is_volatile_and_a_kept_one_is_not(cli, busybox_image, store_root):
    """--rm: the root is mounted with overlayfs' volatile (its upper dir goes at the exit, so no
    sync of the file system at the unmount) and the container is gone afterwards; a container
    that stays is mounted as before."""
    before = os.listdir(os.path.join(store_root, "containers"))
    r = run(cli, "busybox", "sh", "-c", "grep ' / overlay ' /proc/mounts | grep -c volatile")
    assert r.returncode == 0 and r.out == "1\n", (r.out, r.err)
    assert os.listdir(os.path.join(store_root, "containers")) == before
    r = cli("run", "--name", "kept-root", "busybox", "sh", "-c",
            "grep ' / overlay ' /proc/mounts | grep -c volatile")
    try:
        assert r.out == "0\n", (r.out, r.err)
    finally:
        cli("rm", "kept-root", check=True)


def test_root_mounted_volatile_once_starts_again(cli, busybox_image, store_root, tmp_path):
    """A root once mounted volatile (a build step's container kept with --rm=false) keeps the
    kernel's mark in its work dir, which refuses any later mount of it: start and cp remove the
    mark first, and what the container wrote is still there."""
    from layerbox.container.engine import ContainerEngine
    from layerbox.store import Store

    engine = ContainerEngine(Store(store_root))
    c = engine.create_container("busybox", command=["sh", "-c", "echo one >> /one"],
                                network_mode="none", detach=True, name="was-volatile")
    try:
        mon = engine.start(c.id, volatile=True)
        while not mon.wait(timeout_ms=250)["exited"]:
            pass
        mon.close()
        assert os.path.isdir(os.path.join(c.dir, "work", "work", "incompat", "volatile"))
        src = tmp_path / "x"
        src.write_text("x\n")
        assert cli("cp", str(src), "was-volatile:/x").returncode == 0
        r = cli("start", "-a", "was-volatile")
        assert r.returncode == 0, r.err
        r = cli("commit", "was-volatile", "was-volatile:1")
        assert r.returncode == 0, r.err
        assert run(cli, "was-volatile:1", "cat", "/one", "/x").out == "one\none\nx\n"
    finally:
        cli("rm", "-f", "was-volatile")
        cli("rmi", "was-volatile:1")


def test_environment_workdir_and_user(cli, busybox_image, tmp_path):
    envfile = tmp_path / "env"
    envfile.write_text("# a comment\nFROM_FILE=yes\nSHARED=file\n")
    r = run(cli, "-e", "A=1", "--env-file", envfile, "-e", "SHARED=flag", "-w", "/work/dir",
            "busybox", "sh", "-c", 'echo "$A $FROM_FILE $SHARED $HOME"; pwd')
    assert r.out.splitlines() == ["1 yes flag /root", "/work/dir"]
    r = run(cli, "-u", "user", "busybox", "id")
    assert r.out.strip() == "uid=1000(user) gid=1000(user) groups=50(staff),1000(user)"
    r = run(cli, "-u", "1000:50", "busybox", "sh", "-c", "id -u; id -g; echo $HOME")
    assert r.out.split() == ["1000", "50", "/home/user"]
    r = run(cli, "-u", "4242", "busybox", "id", "-u")
    assert r.out.strip() == "4242"
    r = run(cli, "-u", "nosuchuser", "busybox", "id")
    assert r.returncode == 125
    assert "unable to find user nosuchuser" in r.err


def test_arguments_that_are_not_utf8_reach_the_container_as_docker_sends_them(cli, busybox_image):
    """docker's CLI sends the command and the environment as JSON strings: each byte that is
    not UTF-8 becomes U+FFFD (it broke layerbox's start: the monitor refused the JSON)."""
    script = os.fsdecode(b"echo \xff ok; echo $K")
    env = os.fsdecode(b"K=\xfe")
    r = cli("run", "--rm", "-e", env, "busybox", "sh", "-c", script, text=False)
    assert (r.returncode, r.stdout) == (0, "\ufffd ok\n\ufffd\n".encode()), r.err
    cid = cli("run", "-d", "busybox", "sleep", "60", check=True).out.strip()
    try:
        for form in ([], ["--env-file", "/dev/null"]):  # the compiled exec path, and Python's
            r = cli("exec", *form, "-e", env, cid, "sh", "-c", script, text=False)
            assert (r.returncode, r.stdout) == (0, "\ufffd ok\n\ufffd\n".encode()), r.err
    finally:
        cli("rm", "-f", cid, check=True)


def test_rm_container_renamed_while_running_leaves_its_old_names_new_owner_alone(cli, busybox_image):
    """--rm, renamed while it runs, its old name taken by another container: at its exit its
    monitor removes the name it has then (it removed the old name's link: the other container's)."""
    first = cli("run", "-d", "--rm", "--name", "rn-old", "busybox", "sleep", "2", check=True).out.strip()
    second = None
    try:
        cli("rename", "rn-old", "rn-new", check=True)
        second = cli("run", "-d", "--name", "rn-old", "busybox", "sleep", "60", check=True).out.strip()
        cli("wait", "rn-new", timeout=30)
        r = cli("inspect", "-f", "{{.Id}}", "rn-old", check=True)
        assert r.out.strip() == second
        r = cli("inspect", "rn-new")
        assert r.returncode == 1 and "No such" in r.err
        # and the name stays the second container's: a third cannot take it
        r = cli("create", "--name", "rn-old", "busybox", "true")
        assert r.returncode == 125 and "already in use" in r.err, r.err
    finally:
        cli("rm", "-f", first, *( [second] if second else []))


def test_bare_env_takes_the_callers_value_or_unsets_the_images(cli, busybox_image):
    """docker's -e K: the caller's K when it has one; otherwise K is unset in the container,
    the image's K too (the daemon's ReplaceOrAppendEnvValues), for run and for exec."""
    cid = cli("create", "busybox", "true", check=True).out.strip()
    try:
        cli("commit", "-c", "ENV FROM_IMAGE=img KEEP=img", cid, "envimg:1", check=True)
    finally:
        cli("rm", cid, check=True)
    show = ["sh", "-c", 'echo "${FROM_IMAGE-unset} $KEEP"']
    try:
        assert run(cli, "envimg:1", *show).out == "img img\n"
        assert run(cli, "-e", "FROM_IMAGE", "envimg:1", *show).out == "unset img\n"
        # inspect shows what docker's does: the user's entries as given, then the image's rest
        cid = cli("create", "-e", "B=user", "-e", "FROM_IMAGE", "envimg:1", "env", check=True).out.strip()
        try:
            r = cli("inspect", "-f", "{{json .Config.Env}}", cid, check=True)
            assert r.out == '["B=user","FROM_IMAGE","KEEP=img"]\n'
            env = cli("start", "-a", cid, check=True).out.splitlines()
            assert [e.split("=")[0] for e in env] == ["PATH", "HOSTNAME", "B", "KEEP", "HOME"]
        finally:
            cli("rm", cid, check=True)
        r = run(cli, "-e", "FROM_IMAGE", "envimg:1", *show, env={"FROM_IMAGE": "caller"})
        assert r.out == "caller img\n"
        cid = cli("run", "-d", "envimg:1", "sleep", "60", check=True).out.strip()
        try:
            # the compiled exec path (no interpreter to fall back to), and Python's (an
            # --env-file is a form the compiled path leaves to it)
            for form, env in (([], {"LAYERBOX_PYTHON": "/nonexistent/python3"}),
                              (["--env-file", "/dev/null"], {})):
                r = cli("exec", *form, "-e", "FROM_IMAGE", "-e", "KEEP=exec", cid, *show, env=env)
                assert r.out == "unset exec\n", r.err
                r = cli("exec", *form, "-e", "KEEP", cid, *show, env=env)
                assert r.out == "img \n", r.err
        finally:
            cli("rm", "-f", cid, check=True)
    finally:
        cli("rmi", "envimg:1")


@pytest.mark.parametrize("cmd,code", [
    (["true"], 0),
    (["sh", "-c", "exit 7"], 7),
    (["/etc/passwd"], 126),
    (["no-such-command"], 127),
    (["/no/such/path"], 127),
])
def test_exit_codes(cli, busybox_image, cmd, code):
    r = run(cli, "busybox", *cmd)
    assert r.returncode == code, r.err
    if code == 127:
        assert "not found" in r.err or "no such file" in r.err


def test_killed_container_exits_137(cli, busybox_image):
    p = cli.popen("run", "--rm", "--name", "victim", "busybox", "sh", "-c", "echo up; sleep 100",
                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert p.stdout.readline() == b"up\n"
    assert cli("kill", "victim").returncode == 0
    p.communicate(timeout=20)
    assert p.returncode == 137


def test_capabilities_and_no_new_privs(cli, busybox_image):
    r = run(cli, "busybox", "grep", "-E", "^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs)",
            "/proc/self/status")
    fields = dict(line.split(":\t") for line in r.out.splitlines())
    # docker's 14; on a pure cgroup v2 host without a device filter, minus CAP_MKNOD
    want = "00000000a80425fb" if not os.path.exists("/sys/fs/cgroup/cgroup.controllers") \
        else "00000000a00425fb"
    assert fields["CapEff"] == want
    assert fields["CapPrm"] == want
    assert fields["CapBnd"] == want
    assert fields["CapInh"] == "0000000000000000"
    assert fields["CapAmb"] == "0000000000000000"
    assert fields["NoNewPrivs"] == "1"
    r = run(cli, "-u", "1000", "busybox", "grep", "CapEff", "/proc/self/status")
    assert r.out.split()[1] == "0000000000000000"


def test_no_fd_above_stdio(cli, busybox_image):
    # The shell's own fds: ls of /proc/1/fd from a child shows what PID 1 inherited.
    r = run(cli, "busybox", "sh", "-c", "exec ls /proc/self/fd")
    fds = sorted(int(x) for x in r.out.split())
    # 0-2 plus the fd ls itself opened to read the directory
    assert fds[:3] == [0, 1, 2] and len(fds) == 4, fds


def test_read_only_and_writable_binds(cli, busybox_image, tmp_path):
    ro = tmp_path / "ro"
    rw = tmp_path / "rw"
    ro.mkdir()
    rw.mkdir()
    (ro / "data").write_text("from host\n")
    r = run(cli, "-v", f"{ro}:/ro:ro", "-v", f"{rw}:/rw", "busybox", "sh", "-c",
            "cat /ro/data; echo x > /ro/new; echo rc=$?; echo y > /rw/new")
    assert "from host" in r.out
    assert "rc=1" in r.out
    assert "Read-only file system" in r.err
    assert not (ro / "new").exists()
    assert (rw / "new").read_text() == "y\n"


def test_stdout_and_stderr_are_streamed_apart(cli, busybox_image):
    r = run(cli, "busybox", "sh", "-c", "echo to-out; echo to-err >&2")
    assert r.out == "to-out\n"
    assert r.err == "to-err\n"


def test_stdin_with_interactive(cli, busybox_image):
    r = run(cli, "-i", "busybox", "sh", "-c", "tr a-z A-Z", input=b"hello\n")
    assert r.out == "HELLO\n"
    r = run(cli, "busybox", "cat", input=b"ignored\n")  # without -i: no stdin
    assert r.out == ""


def _image_store(store_root):
    from layerbox.image.store import ImageStore
    from layerbox.store import Store

    return ImageStore(Store(store_root))


def test_image_defaults_and_overrides(cli, busybox_image, store_root):
    # An image with Entrypoint, Cmd, Env, WorkingDir and User over busybox's layer.
    images = _image_store(store_root)
    cfg = images.config(busybox_image)
    cfg["config"] = {"Entrypoint": ["echo", "ep"], "Cmd": ["default-cmd"], "Env": ["IMG=1"],
                     "WorkingDir": "/tmp", "User": "user"}
    images.add_image(cfg, parent=busybox_image, tags=("cfgtest:latest",))
    try:
        assert run(cli, "cfgtest").out.strip() == "ep default-cmd"
        assert run(cli, "cfgtest", "given").out.strip() == "ep given"
        assert run(cli, "--entrypoint", "pwd", "cfgtest").out.strip() == "/tmp"
        assert run(cli, "--entrypoint", "id", "cfgtest", "-u").out.strip() == "1000"
        r = run(cli, "--entrypoint", "", "cfgtest", "sh", "-c", "echo $IMG; id -u")
        assert r.out.split() == ["1", "1000"]
        assert run(cli, "-u", "root", "--entrypoint", "id", "cfgtest", "-u").out.strip() == "0"
    finally:
        cli("rmi", "cfgtest", check=True)


def test_rm_leaves_nothing(cli, busybox_image, store_root):
    before = set(os.listdir(os.path.join(store_root, "containers")))
    r = run(cli, "--name", "gone", "busybox", "true")
    assert r.returncode == 0
    assert set(os.listdir(os.path.join(store_root, "containers"))) == before
    assert not os.path.lexists(os.path.join(store_root, "names", "gone"))
    parent = os.environ["LAYERBOX_CGROUP_PARENT"]
    for h in os.listdir("/sys/fs/cgroup"):
        p = os.path.join("/sys/fs/cgroup", h, parent)
        if os.path.isdir(p):
            assert [c for c in os.listdir(p) if os.path.isdir(os.path.join(p, c))] == []
    # The name is free again.
    assert run(cli, "--name", "gone", "busybox", "true").returncode == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signals_reach_the_container(cli, busybox_image, sig):
    p = cli.popen("run", "--rm", "busybox", "sh", "-c",
                  "trap 'echo got; exit 3' TERM INT; echo ready; while true; do sleep 0.1; done",
                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert p.stdout.readline() == b"ready\n"
    p.send_signal(sig)
    out, err = p.communicate(timeout=20)
    assert out == b"got\n", err
    assert p.returncode == 3


def test_engine_error_exit_code(cli, busybox_image):
    r = run(cli, "no-such-image")
    assert r.returncode == 125
    assert "Unable to find image 'no-such-image:latest' locally" in r.err
    r = run(cli, "--network", "no-such-network", "busybox", "true")
    assert r.returncode == 125 and "network no-such-network not found" in r.err
    r = cli("run", "--bogus-flag", "busybox")
    assert r.returncode == 125


def test_network_none_has_loopback_only(cli, busybox_image):
    r = run(cli, "--network", "none", "busybox", "cat", "/proc/net/dev")
    ifaces = [l.split(":")[0].strip() for l in r.out.splitlines()[2:]]
    assert ifaces == ["lo"]
    r = run(cli, "--network", "none", "busybox", "ip", "link", "show", "lo")
    assert "UP" in r.out
    r = run(cli, "--network", "host", "busybox", "cat", "/proc/net/dev")
    assert len(r.out.splitlines()) > 3  # the host's interfaces


def test_legacy_mount_path(cli, busybox_image):
    # mount(2) instead of fsopen/fsconfig: what older kernels get.
    r = run(cli, "busybox", "sh", "-c", "echo legacy; ls /bin/sh", env={"LAYERBOX_LEGACY_MOUNT": "1"})
    assert r.returncode == 0, r.err
    assert r.out.split() == ["legacy", "/bin/sh"]


def test_masked_and_read_only_proc_paths(cli, busybox_image):
    r = run(cli, "busybox", "sh", "-c",
            "echo 1 > /proc/sys/kernel/panic_on_oops; echo rc=$?; ls /sys/firmware | wc -l")
    assert "rc=1" in r.out
    assert r.out.split()[-1] == "0"


def test_two_hundred_layers(cli, busybox_image, store_root, tmp_path):
    import io
    import tarfile

    images = _image_store(store_root)
    layers = list(images.record(busybox_image)["Layers"])
    for n in range(199):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as t:
            data = f"layer {n}\n".encode()
            info = tarfile.TarInfo(f"layers/{n:03d}")
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
            if n == 198:
                info = tarfile.TarInfo("layers/000")  # the top layer shadows the bottom one
                info.size = 7
                t.addfile(info, io.BytesIO(b"shadow\n"))
        path = tmp_path / f"l{n}.tar"
        path.write_bytes(buf.getvalue())
        fd = os.open(path, os.O_RDONLY)
        try:
            layers.append(images.add_layer_from_fd(fd)["DiffID"])
        finally:
            os.close(fd)
    from layerbox.image.importer import new_config

    cfg = new_config(layers, created="2026-01-01T00:00:00Z", config={"Cmd": ["sh"]},
                     history=[{"created": "2026-01-01T00:00:00Z", "created_by": "test"}] * len(layers))
    images.add_image(cfg, tags=("tall:latest",))
    try:
        assert len(layers) == 200
        r = run(cli, "tall", "sh", "-c", "ls /layers | wc -l; cat /layers/000 /layers/197")
        assert r.returncode == 0, r.err
        assert r.out.split("\n")[:3] == ["199", "shadow", "layer 197"]
    finally:
        cli("rmi", "tall", check=True)
