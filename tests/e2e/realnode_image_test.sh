#!/usr/bin/env bash
# e2e: daemonset/Dockerfile. Where a container engine runs (docker, podman or
# buildah), the image is built and run as the DaemonSet runs it. Without one
# (this project's test machine has only the docker client), that step is
# skipped with a SKIP line saying why, and everything else is still checked:
# - the build stage's COPY sources exist and pass Dockerfile.dockerignore, and
#   its cmake commands, run here on exactly those sources (Debian 12 with the
#   same -dev packages), build the collector;
# - the runtime stage installs exactly the packages of the shared libraries in
#   that binary's DT_NEEDED (but libc6, which every base image has) plus
#   ca-certificates; its USER is the DaemonSet's non-root runAsUser; its
#   ENTRYPOINT is where the binary is copied and what the DaemonSet runs.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

DF=$E2E_ROOT/daemonset/Dockerfile
IGNORE=$DF.dockerignore
[[ -f $DF && -f $IGNORE ]] || fail "$DF or $IGNORE is missing"

# instructions: the Dockerfile's instructions, one a line (continuations
# joined, comments and blank lines dropped), each prefixed "STAGE<TAB>".
instructions() {
	sed -e '/^[[:space:]]*#/d' "$DF" | sed -e ':a' -e '/\\$/N; s/\\\n/ /; ta' |
		awk 'NF == 0 { next } toupper($1) == "FROM" { stage++ } { print stage "\t" $0 }'
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

# The build stage's -dev packages are the ones this machine builds with.
build_pkgs=$(of_stage 1 RUN | grep -o 'apt-get install.*' | sed 's/&&.*//' | tr ' ' '\n' | grep -v '^-' | grep -v -e '^apt-get$' -e '^install$' -e '^$')
[[ -n $build_pkgs ]] || fail "the build stage installs no packages"
for p in $build_pkgs; do
	[[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) == "install ok installed" ]] ||
		fail "build package $p is not installed here: cannot rehearse the build stage"
done
# Its cmake commands, on the copied sources only, with /build in a temp dir.
build=$E2E_TMP/build
cmds=$(of_stage 1 RUN | grep cmake) || fail "the build stage runs no cmake"
cmds=${cmds//\/build/$build}
cmds=${cmds//\/src/$ctx\/src}
# The stage's ARGs with their defaults, as docker build sets them without --build-arg.
build_args=()
while read -r arg; do
	[[ -n $arg ]] && build_args+=("$arg")
done < <(of_stage 1 ARG | sed 's/^ARG[[:space:]]*//')
(cd "$ctx$workdir" && env "${build_args[@]}" bash -euo pipefail -c "$cmds") >"$E2E_TMP/build.log" 2>&1 ||
	fail "the build stage's commands failed: $cmds: $(tail -20 "$E2E_TMP/build.log")"

# ---------------------------------------------------------- runtime stage --

# COPY --from=<build stage> SRC DEST: the one binary.
copy=$(of_stage "$stages" COPY)
[[ $copy =~ ^--from=([^ ]+)\ +([^ ]+)\ +([^ ]+)$ ]] || fail "runtime COPY is not 'COPY --from=STAGE SRC DEST': $copy"
assert_eq "$build_name" "${BASH_REMATCH[1]}" "COPY --from stage"
bin=$build${BASH_REMATCH[2]#/build}
image_bin=${BASH_REMATCH[3]}
[[ -x $bin ]] || fail "the build stage made no $bin"
"$bin" --version | grep -q '^kprofefe ' || fail "$bin --version"

# The packages of the libraries the binary links, but libc6.
want=$(
	for so in $(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
		path=$(ldd "$bin" | awk -v so="$so" '$1 == so { print $3 }')
		[[ -n $path ]] || fail "ldd does not resolve $so"
		{ dpkg -S "$path" 2>/dev/null || dpkg -S "/usr$path"; } | head -1 | cut -d: -f1
	done | grep -vx libc6
	echo ca-certificates # for an https profefe; not a library
)
run_pkgs=$(of_stage "$stages" RUN | grep -o 'apt-get install.*' | sed 's/&&.*//' | tr ' ' '\n' | grep -v '^-' | grep -v -e '^apt-get$' -e '^install$' -e '^$')
assert_eq "$(sort -u <<<"$want" | paste -sd' ')" "$(sort -u <<<"$run_pkgs" | paste -sd' ')" "runtime packages"
of_stage "$stages" RUN | grep -q -- '--no-install-recommends' || fail "the runtime stage installs recommended packages too"
of_stage "$stages" RUN | grep -q 'rm -rf /var/lib/apt/lists' || fail "the runtime stage keeps the apt lists"

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
image=$(jq -r '.spec.template.spec.containers[0].image' <<<"$ds")

# ----------------------------------------------------------- the image --

engine=""
why=()
if ! command -v docker >/dev/null; then
	why+=("docker: not installed")
elif docker info >/dev/null 2>&1; then
	engine=docker
else
	err=$(docker info 2>&1 | grep -m1 -i 'cannot connect\|error' | sed 's/^ *//' || true)
	why+=("docker: client only, no daemon: ${err:-docker info failed}")
fi
if [[ -z $engine ]]; then
	if ! command -v podman >/dev/null; then why+=("podman: not installed")
	elif podman info >/dev/null 2>&1; then engine=podman
	else why+=("podman: does not run"); fi
fi
if [[ -z $engine ]]; then
	if ! command -v buildah >/dev/null; then why+=("buildah: not installed")
	elif buildah info >/dev/null 2>&1; then engine=buildah
	else why+=("buildah: does not run"); fi
fi

if [[ -z $engine ]]; then
	reasons=$(printf '%s; ' "${why[@]}")
	echo "SKIP (daemonset_image_test.sh): building the image $image: no container engine (${reasons%; }). The Dockerfile was checked and its build stage rehearsed."
else
	tag=kprofefe-e2e:$(date +%s)$RANDOM
	e2e_extra_cleanup() { "$engine" rmi -f "$tag" >/dev/null 2>&1 || true; }
	if [[ $engine == buildah ]]; then
		buildah bud -f "$DF" -t "$tag" "$E2E_ROOT" >"$E2E_TMP/image.log" 2>&1 || fail "buildah bud: $(tail -20 "$E2E_TMP/image.log")"
		assert_eq "$user" "$(buildah inspect -f '{{.OCIv1.Config.User}}' "$tag")" "image user"
		echo "note: buildah builds but does not run images: the image was not started"
	else
		"$engine" build -f "$DF" -t "$tag" "$E2E_ROOT" >"$E2E_TMP/image.log" 2>&1 || fail "$engine build: $(tail -20 "$E2E_TMP/image.log")"
		assert_eq "$user" "$("$engine" image inspect -f '{{.Config.User}}' "$tag")" "image user"
		# As the DaemonSet runs it: read-only root, no capabilities, no escalation.
		out=$("$engine" run --rm --read-only --cap-drop ALL --security-opt no-new-privileges "$tag" --version 2>&1) ||
			fail "$engine run $tag --version: $out"
		assert_contains "$out" "kprofefe " "the image's --version"
		out=$("$engine" run --rm --entrypoint /bin/sh "$tag" -c 'id -u; command -v stat' 2>&1) || fail "the image has no /bin/sh or stat (the spool-owner init container uses them): $out"
		assert_eq "$ds_user" "$(head -1 <<<"$out")" "uid in the image"
	fi
fi
echo "PASS: Dockerfile stages, context, build, runtime packages, user and entrypoint${engine:+; image built with $engine}"
