#!/usr/bin/env bash
# Builds the real node's container images on this machine (no registry is
# reachable): a Debian 12 base from debootstrap, the collector from
# daemonset/Dockerfile as shipped (its BASE_IMAGE argument set to that base),
# the pprof target, the profefe stand-in (tests/profefe, run in place of
# profefe's published image), and the sandbox ("pause") image. Each is cached as a
# docker-archive in $KPF_CACHE/images/, keyed by a hash of what goes into it.
# Sourced by scripts/cluster-node.sh; run directly to build them all.
set -euo pipefail

KPF_ROOT=${KPF_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
# shellcheck source=scripts/cluster-deps.sh
source "$KPF_ROOT/scripts/cluster-deps.sh"

KPF_IMG_CACHE=$KPF_CACHE/images
# vfs and chroot isolation: what buildah can use here (no overlay mounts in
# its storage, no user namespaces for RUN steps).
kpf_buildah() {
	BUILDAH_ISOLATION=chroot buildah --root "$KPF_CACHE/buildah/root" --runroot "$KPF_CACHE/buildah/run" \
		--storage-driver vfs "$@"
}

kpf_img_die() {
	echo "cluster-images: $*" >&2
	exit 1
}

# kpf_debian_mirror: the Debian mirror this machine's apt uses (debootstrap
# and the images' apt-get use the same one).
kpf_debian_mirror() {
	local m=""
	if [[ -r /etc/apt/sources.list.d/debian.sources ]]; then
		m=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }' \
			/etc/apt/sources.list.d/debian.sources)
	fi
	if [[ -z $m && -r /etc/apt/sources.list ]]; then
		m=$(awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }' /etc/apt/sources.list)
	fi
	[[ -n $m ]] || kpf_img_die "no Debian bookworm mirror in /etc/apt/sources.list(.d)"
	echo "$m"
}

kpf_hash() { sha256sum | cut -c1-12; }

# kpf_tree_hash PATH...: hash of the files' names and contents.
kpf_tree_hash() {
	(cd "$KPF_ROOT" && find "$@" -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum) | kpf_hash
}

kpf_img_archive() { echo "$KPF_IMG_CACHE/$1.tar"; } # NAME-HASH

# kpf_img_have TAG ARCHIVE: true once TAG is in buildah's storage, loading it
# from ARCHIVE if only that is left.
kpf_img_have() {
	kpf_buildah inspect --type image "$1" >/dev/null 2>&1 && return 0
	[[ -s $2 ]] || return 1
	# The archive names the image by its tag (kpf_img_save writes it so).
	kpf_buildah pull -q "docker-archive:$2" >/dev/null && kpf_buildah inspect --type image "$1" >/dev/null 2>&1
}

# kpf_img_save TAG ARCHIVE: TAG as a docker-archive that `ctr images import` reads.
kpf_img_save() {
	mkdir -p "$KPF_IMG_CACHE"
	rm -f "$2.tmp"
	kpf_buildah push -q "$1" "docker-archive:$2.tmp:$1" >/dev/null || kpf_img_die "saving $1 failed"
	mv "$2.tmp" "$2"
}

# ---------------------------------------------------------------- images --

kpf_debian_version() { dpkg-query -W -f='${Version}' debootstrap 2>/dev/null || echo none; }

# The tags are printed by kpf_img_tag; the build functions make sure they exist.
kpf_img_tag() { # base|collector|target|profefe|pause
	case $1 in
	base) echo "localhost/kprofefe-debian:12-$(printf 'bookworm minbase %s' "$(kpf_debian_version)" | kpf_hash)" ;;
	collector) echo "localhost/kprofefe:$({ kpf_img_tag base; kpf_tree_hash daemonset/Dockerfile daemonset/Dockerfile.dockerignore CMakeLists.txt include src; } | kpf_hash)" ;;
	target) echo "localhost/kprofefe-pprof-target:$({ kpf_img_tag base; basename "$(kpf_bin_path pprof-target)"; } | kpf_hash)" ;;
	profefe) echo "localhost/kprofefe-profefe-compat:$({ kpf_img_tag base; basename "$(kpf_bin_path profefe)"; } | kpf_hash)" ;;
	pause) echo "localhost/kprofefe-pause:$(basename "$(kpf_bin_path pause)" | kpf_hash)" ;;
	*) kpf_img_die "unknown image $1" ;;
	esac
}

kpf_img_file() { # IMAGE: its archive in the cache
	local t
	t=$(kpf_img_tag "$1")
	t=${t#localhost/}
	kpf_img_archive "${t//:/-}"
}

# build_base: debootstrap --variant=minbase bookworm, imported as one layer.
kpf_img_build_base() {
	local tag=$1 tmp ctr
	tmp=$(mktemp -d "$KPF_CACHE/debootstrap.XXXXXX")
	debootstrap --variant=minbase bookworm "$tmp/rootfs" "$(kpf_debian_mirror)" >"$KPF_CACHE/build-debian.log" 2>&1 ||
		{ rm -rf "$tmp"; kpf_img_die "debootstrap failed; read $KPF_CACHE/build-debian.log"; }
	rm -rf "$tmp"/rootfs/var/cache/apt/archives/*.deb "$tmp"/rootfs/var/lib/apt/lists/*
	tar -C "$tmp/rootfs" -cf "$tmp/rootfs.tar" .
	ctr=$(kpf_buildah from scratch)
	kpf_buildah add "$ctr" "$tmp/rootfs.tar" / >/dev/null
	kpf_buildah config --cmd /bin/bash --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$ctr"
	kpf_buildah commit -q "$ctr" "$tag" >/dev/null
	kpf_buildah rm "$ctr" >/dev/null
	rm -rf "$tmp"
}

# build_collector: daemonset/Dockerfile exactly as a user builds it, on the local base.
kpf_img_build_collector() {
	local tag=$1 rev
	kpf_img_ensure base
	rev=$(git -C "$KPF_ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
	kpf_buildah bud --pull=false --layers=false -f "$KPF_ROOT/daemonset/Dockerfile" \
		--build-arg BASE_IMAGE="$(kpf_img_tag base)" --build-arg GIT_REVISION="$rev" \
		-t "$tag" "$KPF_ROOT" >"$KPF_CACHE/build-collector-image.log" 2>&1 ||
		kpf_img_die "buildah bud daemonset/Dockerfile failed; read $KPF_CACHE/build-collector-image.log"
	# The build stage's image is of no further use (vfs keeps whole copies).
	kpf_buildah rmi --prune >/dev/null 2>&1 || true
}

# kpf_img_program TAG COMPONENT PATH [USER]: the local base with COMPONENT's
# binary (dynamically linked, hence the base) at PATH as the entrypoint.
kpf_img_program() {
	local tag=$1 comp=$2 path=$3 user=${4:-} ctr
	kpf_img_ensure base
	kpf_build "$comp" >/dev/null
	ctr=$(kpf_buildah from --pull=false "$(kpf_img_tag base)")
	kpf_buildah copy --chmod 0755 "$ctr" "$(kpf_bin_path "$comp")" "$path" >/dev/null
	kpf_buildah config --entrypoint "[\"$path\"]" --cmd '[]' ${user:+--user "$user"} "$ctr"
	kpf_buildah commit -q "$ctr" "$tag" >/dev/null
	kpf_buildah rm "$ctr" >/dev/null
}

kpf_img_build_target() { kpf_img_program "$1" pprof-target /usr/local/bin/pprof-target 65534:65534; }

# The stand-in where profefe's published image has its server: /profefe,
# taking the same -addr and -badger.dir (the pod's securityContext sets the user).
kpf_img_build_profefe() { kpf_img_program "$1" profefe /profefe; }

kpf_img_build_pause() {
	local tag=$1 ctr
	kpf_build pause >/dev/null
	ctr=$(kpf_buildah from scratch)
	kpf_buildah copy --chmod 0755 "$ctr" "$(kpf_bin_path pause)" /pause >/dev/null
	kpf_buildah config --entrypoint '["/pause"]' --user 65535:65535 "$ctr"
	kpf_buildah commit -q "$ctr" "$tag" >/dev/null
	kpf_buildah rm "$ctr" >/dev/null
}

# kpf_img_ensure IMAGE: builds IMAGE unless its archive is cached; one line.
kpf_img_ensure() {
	local tag file start=$SECONDS
	tag=$(kpf_img_tag "$1")
	file=$(kpf_img_file "$1")
	if [[ -s $file ]]; then
		[[ $1 != base ]] || kpf_img_have "$tag" "$file" || kpf_img_die "loading $file failed"
		return 0
	fi
	"kpf_img_build_$1" "$tag"
	kpf_img_save "$tag" "$file"
	echo "image $1: built in $((SECONDS - start))s ($tag)"
}

kpf_images_main() {
	local i
	command -v buildah >/dev/null && command -v debootstrap >/dev/null ||
		kpf_img_die "buildah and debootstrap are needed (scripts/cluster-node.sh deps installs them)"
	for i in base pause target profefe collector; do
		kpf_img_ensure "$i"
		echo "image $i: $(kpf_img_tag "$i") ($(kpf_img_file "$i"))"
	done
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
	kpf_images_main "$@"
fi
