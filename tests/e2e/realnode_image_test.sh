#!/usr/bin/env bash
# e2e: daemonset/Dockerfile, built as shipped (scripts/cluster-images.sh runs
# `buildah bud` on it, BASE_IMAGE set to the local Debian 12 from debootstrap)
# and run by the real node's containerd:
# - the build stage's COPY sources exist and pass Dockerfile.dockerignore;
# - the image is the one of these sources, and containerd runs it on a
#   read-only root filesystem: --version answers; every library its binary
#   links resolves in the image;
# - the runtime stage installs exactly the packages of the shared libraries in
#   the binary's DT_NEEDED (but libc6, which every base image has) plus
#   ca-certificates; its USER is the DaemonSet's non-root runAsUser; its
#   ENTRYPOINT is where the binary is copied and what the DaemonSet runs; it
#   has the /bin/sh and stat the spool-owner init container uses.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
[[ -n ${KPROFEFE_CONTAINERD_SOCK:-} ]] || fail "the cluster has no real node (scripts/cluster.sh up --real-node)"

DF=$E2E_ROOT/daemonset/Dockerfile
IGNORE=$DF.dockerignore
[[ -f $DF && -f $IGNORE ]] || fail "$DF or $IGNORE is missing"

# instructions: the Dockerfile's instructions, one a line (continuations
# joined, comments and blank lines dropped), each prefixed "STAGE<TAB>"; the
# global ARGs before the first FROM are left out.
instructions() {
	sed -e '/^[[:space:]]*#/d' "$DF" | sed -e ':a' -e '/\\$/N; s/\\\n/ /; ta' |
		awk 'NF == 0 { next } toupper($1) == "FROM" { stage++ } stage > 0 { print stage "\t" $0 }'
}
mapfile -t lines < <(instructions)
stages=$(printf '%s\n' "${lines[@]}" | cut -f1 | sort -u | wc -l)
((stages >= 2)) || fail "the Dockerfile is not multi-stage ($stages stage)"
of_stage() { # N INSTRUCTION: the arguments of that instruction in stage N, one a line
	printf '%s\n' "${lines[@]}" | awk -F'\t' -v n="$1" -v i="$2" '$1 == n {
		split($2, w, " "); if (toupper(w[1]) == i) { sub(/^[^ ]+ +/, "", $2); print $2 } }'
}
build_from=$(of_stage 1 FROM)
build_name=$(awk '{ if (toupper($2) == "AS") print $3 }' <<<"$build_from")
[[ -n $build_name ]] || fail "the build stage has no name (FROM ... AS name): $build_from"
runtime_from=$(of_stage "$stages" FROM)
# Same distribution release, so the runtime packages' sonames are the ones linked.
assert_eq "$(awk '{print $1}' <<<"$build_from")" "$(awk '{print $1}' <<<"$runtime_from")" "base image of build and runtime stages"
# Users without a registry mirror get the public Debian 12 image.
assert_eq 'BASE_IMAGE=debian:12-slim' "$(sed -n 's/^ARG[[:space:]]*\(BASE_IMAGE=.*\)$/\1/p' "$DF")" "default base image (ARG BASE_IMAGE)"

# ------------------------------------------------------------ build stage --

# The build context holds only what Dockerfile.dockerignore lets through: "*"
# then "!path" for each thing the build copies.
assert_eq '*' "$(grep -v '^#' "$IGNORE" | grep -v '^$' | head -1)" "first pattern of $IGNORE"
ctx=$E2E_TMP/context
workdir=/
mkdir -p "$ctx"
while IFS= read -r line; do
	read -r -a w <<<"$line"
	case ${w[0]^^} in
	WORKDIR) workdir=${w[1]} ;;
	COPY)
		[[ ${w[1]} != --* ]] || fail "unexpected COPY option in the build stage: $line"
		dest=${w[-1]}
		[[ $dest == /* ]] || dest=$workdir/$dest
		for src in "${w[@]:1:${#w[@]}-2}"; do
			[[ -e $E2E_ROOT/$src ]] || fail "COPY $src: no such path in the repository"
			grep -qxE "!${src%/}/?" "$IGNORE" || fail "COPY $src: excluded by $IGNORE"
			# COPY semantics: a directory's contents go into DEST; a file goes
			# into DEST/ or becomes DEST.
			if [[ -d $E2E_ROOT/$src ]]; then
				mkdir -p "$ctx$dest" && cp -r "$E2E_ROOT/$src/." "$ctx$dest/"
			elif [[ $dest == */ ]]; then
				mkdir -p "$ctx$dest" && cp "$E2E_ROOT/$src" "$ctx$dest"
			else
				mkdir -p "$(dirname "$ctx$dest")" && cp "$E2E_ROOT/$src" "$ctx$dest"
			fi
		done
		;;
	esac
done < <(printf '%s\n' "${lines[@]}" | awk -F'\t' '$1 == 1 { print $2 }')

# ------------------------------------------------------------ the image --

# The image the real node runs is the one of these sources and this Dockerfile.
image=$KPROFEFE_COLLECTOR_IMAGE
assert_eq "$image" "$(bash -c 'source "$1/scripts/cluster-images.sh"; kpf_img_tag collector' _ "$E2E_ROOT")" "collector image of these sources"
ctr_run() { # ARGV...: runs ARGV in the image, read-only root, as the image's user
	ctr -a "$KPROFEFE_CONTAINERD_SOCK" -n k8s.io run --rm --read-only "$image" "e2e-image-$$-$RANDOM" "$@"
}
e2e_extra_cleanup() {
	local c
	for c in $(ctr -a "$KPROFEFE_CONTAINERD_SOCK" -n k8s.io containers ls -q 2>/dev/null | grep "^e2e-image-$$-" || true); do
		ctr -a "$KPROFEFE_CONTAINERD_SOCK" -n k8s.io tasks kill -s KILL "$c" >/dev/null 2>&1 || true
		ctr -a "$KPROFEFE_CONTAINERD_SOCK" -n k8s.io containers delete "$c" >/dev/null 2>&1 || true
	done
}

# ---------------------------------------------------------- runtime stage --

# COPY --from=<build stage> SRC... DIR/: the collector and the spool tool.
copy=$(of_stage "$stages" COPY)
[[ $copy =~ ^--from=([^ ]+)\ +(.+)\ +([^ ]+/)$ ]] ||
	fail "runtime COPY is not 'COPY --from=STAGE SRC... DIR/': $copy"
assert_eq "$build_name" "${BASH_REMATCH[1]}" "COPY --from stage"
copied=${BASH_REMATCH[2]} dest=${BASH_REMATCH[3]}
assert_eq "/build/kprofefe /build/kprofefe-spool" "$(tr -s ' ' <<<"$copied")" "the binaries the image ships"
image_bin=${dest}kprofefe
out=$(ctr_run "$image_bin" --version 2>&1) || fail "$image_bin --version in $image: $out"
assert_contains "$out" "kprofefe " "the image's --version"
# The spool tool, for an operator's kubectl exec into the collector's pod.
out=$(ctr_run "${dest}kprofefe-spool" --version 2>&1) || fail "${dest}kprofefe-spool --version in $image: $out"
assert_contains "$out" "kprofefe-spool " "the spool tool's --version"
# The binary itself, out of the image, for its DT_NEEDED.
bin=$E2E_TMP/kprofefe
ctr_run cat "$image_bin" >"$bin" || fail "reading $image_bin out of $image"
ldd_out=$(ctr_run ldd "$image_bin" 2>&1) || fail "ldd $image_bin in $image: $ldd_out"
grep -q 'not found' <<<"$ldd_out" && fail "libraries missing in $image: $ldd_out"

# The packages of the libraries the binary links, but libc6.
want=$(
	for so in $(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
		path=$(awk -v so="$so" '$1 == so { print $3 }' <<<"$ldd_out")
		[[ -n $path ]] || fail "ldd in the image does not resolve $so"
		ctr_run /bin/sh -c 'dpkg -S "$1" 2>/dev/null || dpkg -S "/usr$1"' sh "$path" | head -1 | cut -d: -f1
	done | grep -vx libc6
	echo ca-certificates # for an https profefe; not a library
)
run_pkgs=$(of_stage "$stages" RUN | grep -o 'apt-get install.*' | sed 's/&&.*//' | tr ' ' '\n' | grep -v '^-' | grep -v -e '^apt-get$' -e '^install$' -e '^$')
assert_eq "$(sort -u <<<"$want" | paste -sd' ')" "$(sort -u <<<"$run_pkgs" | paste -sd' ')" "runtime packages"
grep -q -- '--no-install-recommends' <(of_stage "$stages" RUN) || fail "the runtime stage installs recommended packages too"
grep -q 'rm -rf /var/lib/apt/lists' <(of_stage "$stages" RUN) || fail "the runtime stage keeps the apt lists"

# Non-root, as the DaemonSet runs it; the entrypoint is the binary it runs.
ds=$(kubectl kustomize "$E2E_ROOT/daemonset" | kubectl create --dry-run=client -o json -f - |
	jq -s '[.[] | if .kind == "List" then .items[] else . end][] | select(.kind == "DaemonSet")')
ds_user=$(jq -r '.spec.template.spec.securityContext.runAsUser' <<<"$ds")
user=$(of_stage "$stages" USER)
[[ $user =~ ^[0-9]+(:[0-9]+)?$ && ${user%%:*} != 0 ]] || fail "USER $user: want a numeric non-root uid (runAsNonRoot checks numbers)"
assert_eq "$ds_user" "${user%%:*}" "the image's USER vs the DaemonSet's runAsUser"
entry=$(of_stage "$stages" ENTRYPOINT)
assert_eq "$image_bin" "$(jq -r '.[0]' <<<"$entry" 2>/dev/null)" "ENTRYPOINT (exec form) vs the COPY destination"
assert_eq "$image_bin" "$(jq -r '.spec.template.spec.containers[0].command[0]' <<<"$ds")" "the DaemonSet's command vs the image's binary"

# The image's config, as containerd holds it.
cfg=$(ctr -a "$KPROFEFE_CONTAINERD_SOCK" -n k8s.io images ls | awk -v i="$image" '$1 == i { print $3 }')
[[ -n $cfg ]] || fail "containerd has no image $image"
out=$(ctr_run /bin/sh -c 'id -u; command -v stat' 2>&1) || fail "the image has no /bin/sh or stat (the spool-owner init container uses them): $out"
assert_eq "$ds_user" "$(head -1 <<<"$out")" "uid in the image"
echo "PASS: Dockerfile stages, context, base image argument; image $image built by buildah runs in containerd read-only: version, libraries, runtime packages, user and entrypoint"
