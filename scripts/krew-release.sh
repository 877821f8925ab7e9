#!/usr/bin/env bash
# Builds the kubectl-profefe release archive of this machine's platform into OUTDIR
# and writes OUTDIR/profefe.yaml: the krew manifest with the version and its sha256.
#
#   scripts/krew-release.sh VERSION [OUTDIR]      (e.g. v0.1.0; OUTDIR default dist)
set -euo pipefail
cd "$(dirname "$0")/.."
version=${1:?usage: scripts/krew-release.sh VERSION [OUTDIR] (e.g. v0.1.0)}
out=${2:-dist}
[[ $version =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "krew-release: version must look like v1.2.3" >&2; exit 2; }

case $(uname -m) in
x86_64) arch=amd64 ;;
aarch64) arch=arm64 ;;
*) echo "krew-release: no krew platform for $(uname -m)" >&2; exit 1 ;;
esac

cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-release --target kubectl-profefe >/dev/null
mkdir -p "$out"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp build-release/kubectl-profefe README.md "$stage/"
strip "$stage/kubectl-profefe"
archive=$out/kubectl-profefe_${version}_linux_${arch}.tar.gz
# Fixed owner and times, so the same build gives the same checksum.
tar --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$stage" -cf - kubectl-profefe README.md |
	gzip -n >"$archive"
sha=$(sha256sum "$archive" | cut -d' ' -f1)

# The manifest: this version everywhere, and this platform's checksum.
awk -v version="$version" -v arch="$arch" -v sha="$sha" '
	/^  version:/ { print "  version: " version; next }
	/uri:/ { gsub(/v[0-9]+\.[0-9]+\.[0-9]+/, version) }
	/arch:/ { current = $2 }
	/sha256:/ && current == arch { sub(/"[0-9a-f]*"/, "\"" sha "\"") }
	{ print }
' daemonset/krew/profefe.yaml >"$out/profefe.yaml"
echo "$archive $sha"
echo "$out/profefe.yaml"
