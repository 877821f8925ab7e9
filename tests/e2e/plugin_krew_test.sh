#!/usr/bin/env bash
# The krew manifest works with the real krew: scripts/krew-release.sh builds the
# archive and fills in the manifest, krew installs kubectl-profefe from them,
# kubectl finds it and it captures a pod; an archive that does not match the
# manifest's checksum is refused.
source "$(dirname "$0")/lib.sh"

[[ -x ${KPROFEFE_KREW:-} ]] || fail "no krew binary (KPROFEFE_KREW); run scripts/install-deps.sh"
"$E2E_ROOT/scripts/krew-release.sh" v0.9.1 "$E2E_TMP/dist" >"$E2E_TMP/release.log" 2>&1 ||
	fail "krew-release.sh failed: $(cat "$E2E_TMP/release.log")"
archive=$E2E_TMP/dist/kubectl-profefe_v0.9.1_linux_amd64.tar.gz
manifest=$E2E_TMP/dist/profefe.yaml
grep -q "version: v0.9.1" "$manifest" || fail "manifest version not set"
grep -q "sha256: \"$(sha256sum "$archive" | cut -d' ' -f1)\"" "$manifest" ||
	fail "manifest does not carry the archive's sha256"

# A tampered archive: krew checks the manifest's sha256 and refuses it.
cp "$archive" "$E2E_TMP/tampered.tar.gz"
printf 'x' >>"$E2E_TMP/tampered.tar.gz"
export KREW_ROOT=$E2E_TMP/krew-bad
if "$KPROFEFE_KREW" install --manifest="$manifest" --archive="$E2E_TMP/tampered.tar.gz" >"$E2E_TMP/bad.log" 2>&1; then
	fail "krew installed an archive whose checksum does not match"
fi
grep -qi "checksum\|sha256" "$E2E_TMP/bad.log" || fail "krew's refusal does not mention the checksum: $(cat "$E2E_TMP/bad.log")"

export KREW_ROOT=$E2E_TMP/krew
"$KPROFEFE_KREW" install --manifest="$manifest" --archive="$archive" >"$E2E_TMP/install.log" 2>&1 ||
	fail "krew install failed: $(cat "$E2E_TMP/install.log")"
# Only krew's copy on PATH, not the build directory's.
export PATH=$KREW_ROOT/bin:$(tr ':' '\n' <<<"$PATH" | grep -vx "${KPROFEFE_BUILD_DIR:-/nonexistent}" | paste -sd:)
grep -qx "$KREW_ROOT/bin/kubectl-profefe" <(kubectl plugin list 2>/dev/null) ||
	fail "kubectl plugin list does not show krew's kubectl-profefe: $(kubectl plugin list 2>&1)"
assert_contains "$(kubectl profefe --version)" "kubectl-profefe 0.1.0" "kubectl profefe --version"

ns=krew-$RANDOM
pod_add web --node node-a --namespace "$ns" --annotate profefe.com/enable=true >/dev/null
out=$(kubectl profefe capture web -n "$ns" --profiles heap --output-dir "$E2E_TMP")
[[ $out == "$E2E_TMP"/profile-heap-web-*.pb.gz ]] || fail "capture printed no heap file: $out"
pprof_top "$out" >/dev/null
echo "PASS: krew installs kubectl-profefe from the released archive and manifest; a tampered archive is refused"
