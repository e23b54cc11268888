#!/bin/bash
# layerbox-runtime under dockerd: a private dockerd (its own --data-root, --exec-root, --pidfile,
# socket and containerd, under one temp dir; --bridge=none --iptables=false) started with
# `--add-runtime layerbox=RUNTIME`, then `docker run --runtime layerbox` and the commands that go
# through the runtime (create/start/state/kill/delete, exec, pause/resume, stop, the exit code).
#
# tests/runtime/test_dockerd.py runs it (scripts/install.sh installs docker.io, whose dockerd is
# never started as a service); by hand:
#     contrib/dockerd/check-runtime.sh [/path/to/layerbox-runtime]
# DOCKERD_CGROUP_PARENT=/NAME puts the containers' cgroups under /NAME (dockerd's --cgroup-parent;
# the test suite's own parent), instead of dockerd's "docker".
# Prints one line per check and "all N checks passed"; exits non-zero at the first failure.
# Leaves nothing behind: dockerd is stopped by its pid, its mounts and the temp dir removed.
set -euo pipefail

RUNTIME=${1:-$(command -v layerbox-runtime || true)}
[ -x "$RUNTIME" ] || { echo "layerbox-runtime not found (give its path)" >&2; exit 2; }
command -v dockerd >/dev/null || { echo "dockerd is not installed (Debian: docker.io)" >&2; exit 2; }
command -v busybox >/dev/null || { echo "busybox is needed for the test image" >&2; exit 2; }

TMP=$(mktemp -d /tmp/layerbox-dockerd-XXXXXX)
chmod 755 "$TMP"
SOCK="$TMP/docker.sock"
NS=layerbox-check  # containerd namespaces of our own: no clash with another dockerd's "moby"
D() { docker -H "unix://$SOCK" "$@"; }
DOCKERD_PID=
cleanup() {
    set +e
    if [ -n "$DOCKERD_PID" ]; then
        D ps -aq 2>/dev/null | xargs -r docker -H "unix://$SOCK" rm -f >/dev/null 2>&1
        kill "$DOCKERD_PID" 2>/dev/null
        for _ in $(seq 1 100); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.2; done
        kill -9 "$DOCKERD_PID" 2>/dev/null
    fi
    # dockerd unmounts what it mounted when it stops; what a killed one left, by mount point
    grep -o " $TMP[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
    rm -rf "$TMP"
}
trap cleanup EXIT

dockerd --data-root "$TMP/data" --exec-root "$TMP/exec" --pidfile "$TMP/dockerd.pid" \
    -H "unix://$SOCK" --bridge=none --iptables=false --ip6tables=false \
    --containerd-namespace "$NS" --containerd-plugins-namespace "$NS-plugins" \
    ${DOCKERD_CGROUP_PARENT:+--cgroup-parent "$DOCKERD_CGROUP_PARENT"} \
    --add-runtime "layerbox=$RUNTIME" >"$TMP/dockerd.log" 2>&1 &
DOCKERD_PID=$!
for _ in $(seq 1 150); do D version >/dev/null 2>&1 && break; sleep 0.2; done
D version >/dev/null 2>&1 || { cat "$TMP/dockerd.log" >&2; echo "dockerd did not start" >&2; exit 1; }

# A busybox image, imported from a root made here (no registry, no network).
mkdir -p "$TMP/root/bin" "$TMP/root/tmp"
cp "$(command -v busybox)" "$TMP/root/bin/busybox"
for c in sh echo cat sleep id hostname true false ls; do ln -s busybox "$TMP/root/bin/$c"; done
tar -C "$TMP/root" -c . | D import -c 'CMD ["sh"]' - layerbox-check:1 >/dev/null

n=0
check() {  # check WHAT EXPECTED ACTUAL
    n=$((n + 1))
    if [ "$2" != "$3" ]; then
        echo "FAIL $1: expected [$2], got [$3]" >&2
        tail -20 "$TMP/dockerd.log" >&2
        exit 1
    fi
    echo "ok $n - $1"
}

RUN=(--runtime layerbox --network none)
check "docker run --runtime layerbox prints the command's output" \
    "hello" "$(D run --rm "${RUN[@]}" layerbox-check:1 echo hello)"
set +e; D run --rm "${RUN[@]}" layerbox-check:1 sh -c 'exit 3'; code=$?; set -e
check "the exit code passes through" 3 "$code"
check "--hostname reaches the container" \
    "box1" "$(D run --rm "${RUN[@]}" --hostname box1 layerbox-check:1 hostname)"
cid=$(D run -d "${RUN[@]}" layerbox-check:1 sleep 300)
check "inspect names the runtime" layerbox "$(D inspect -f '{{.HostConfig.Runtime}}' "$cid")"
# containerd's shim gives the runtime a --root under dockerd's exec root (runtime-runc/NS in
# docker 20.10, whatever the runtime's name): our state is there
RTROOT=$(ls -d "$TMP"/exec/runtime-*/"$NS" 2>/dev/null | head -1)
state=$("$RUNTIME" --root "$RTROOT" state "$cid" 2>/dev/null | grep -o '"status": "[a-z]*"' || true)
check "layerbox-runtime holds the container's state" '"status": "running"' "$state"
check "docker exec" "0 in" "$(D exec "$cid" sh -c 'echo $(id -u) in')"
D pause "$cid" >/dev/null
check "docker pause" paused "$(D inspect -f '{{.State.Status}}' "$cid")"
D unpause "$cid" >/dev/null
check "docker unpause" running "$(D inspect -f '{{.State.Status}}' "$cid")"
D stop -t 1 "$cid" >/dev/null
check "docker stop (TERM ignored by pid 1, then KILL)" "exited 137" \
    "$(D inspect -f '{{.State.Status}} {{.State.ExitCode}}' "$cid")"
D rm "$cid" >/dev/null
left=$("$RUNTIME" --root "$RTROOT" list -q 2>/dev/null | wc -l)
check "nothing left in the runtime's state after docker rm" 0 "$left"
echo "all $n checks passed"
