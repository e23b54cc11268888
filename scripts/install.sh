#!/bin/sh
# Installs layerbox and what its tests need on Debian 12, as root:
#   - build dependencies: a C++ compiler, CMake, OpenSSL, zlib, zstd, ISA-L (igzip), libarchive, nlohmann-json,
#     libseccomp, libmnl and libnftables (networking); aardvark-dns (names on user networks)
#   - test dependencies: busybox-static (the test image), skopeo and umoci (interoperability),
#     docker-registry (a real registry for push/pull tests), apache2-utils (htpasswd for its
#     Basic auth), openssl (the key of the test token server for its bearer auth), nftables
#     and iproute2 (the network tests check links and rules with nft and ip)
#   - containerd (a private instance drives layerbox-runtime in tests/runtime/test_containerd.py);
#     runc and crun (benchmarks/bench_runtime.py runs layerbox-runtime beside them)
#   - golang-go, golang-github-opencontainers-runtime-tools-dev and golang-github-google-uuid-dev:
#     tests/runtime/test_validation.py builds the OCI runtime-tools validation programs (source in
#     ../shared/oci-runtime-tools) against them, with no network
#   - docker-compose (tests/api/test_engine_api.py brings a project up through `system service`)
#     and Debian's docker.io for its docker CLI (the tests use the client only; dockerd is
#     never started: see below)
#   - the package itself with its test extras (pytest, pytest-benchmark, docker, testcontainers)
set -eu
cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
    g++ cmake make pkg-config python3 python3-pip python3-venv \
    libssl-dev zlib1g-dev libzstd-dev libisal-dev libarchive-dev nlohmann-json3-dev libsimdjson-dev libseccomp-dev \
    libmnl-dev libnftables-dev aardvark-dns \
    busybox-static skopeo umoci docker-registry apache2-utils openssl zstd procps util-linux iproute2 nftables \
    containerd runc crun docker-compose \
    golang-go golang-github-opencontainers-runtime-tools-dev golang-github-google-uuid-dev >/dev/null
# The docker CLI for tests/api (a machine that has one already keeps it). docker.io's
# maintainer scripts would start dockerd: a policy-rc.d that refuses every service start keeps
# them from it while it installs (Debian's own way for images and chroots).
if ! command -v docker >/dev/null 2>&1; then
    made_policy=
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
        made_policy=1
    fi
    apt-get install -y -qq --no-install-recommends docker.io >/dev/null
    [ -z "$made_policy" ] || rm -f /usr/sbin/policy-rc.d
fi

PY=${PYTHON:-python3}
# Debian's own python3 refuses system-wide pip installs (PEP 668); installing is what this
# script is for, so say so explicitly there.
if $PY -c 'import sys, sysconfig, os; sys.exit(0 if os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")) else 1)'; then
    export PIP_BREAK_SYSTEM_PACKAGES=1
fi
$PY -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
$PY -m pip install --quiet ".[test]"
echo "layerbox installed: $(command -v layerbox || echo "$($PY -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/layerbox")"
