#!/usr/bin/env bash
# Installs everything the build, the tests and the demo need; safe to run twice.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: the C toolchain and libraries, and what the local cluster uses.
APT_PACKAGES=(
  build-essential cmake ninja-build pkg-config git curl ca-certificates openssl
  libcurl4-openssl-dev libyajl-dev libev-dev zlib1g-dev libmicrohttpd-dev libcmocka-dev
  iproute2 procps util-linux psmisc jq
  clang libclang-rt-dev valgrind                 # libFuzzer harnesses, memcheck of the unit tests
  prometheus                                     # promtool (the alerts' unit tests), a real Prometheus (e2e)
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "install-deps: installing Debian packages: ${missing[*]}"
  as_root=()
  [ "$(id -u)" -eq 0 ] || as_root=(sudo)
  if ! "${as_root[@]}" apt-get update -qq ||
     ! DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
    echo "install-deps: FAILED to install Debian packages: ${missing[*]}" >&2
    exit 1
  fi
else
  echo "install-deps: Debian packages present"
fi

# Go builds the cluster's peers (etcd, kube-apiserver, profefe, pprof targets).
if ! command -v go >/dev/null 2>&1; then
  [ -x /usr/local/go/bin/go ] && export PATH="/usr/local/go/bin:$PATH"
fi
if ! command -v go >/dev/null 2>&1; then
  echo "install-deps: FAILED: no Go toolchain (go) on PATH; install Go 1.24 or newer" >&2
  exit 1
fi

exec scripts/cluster-deps.sh
