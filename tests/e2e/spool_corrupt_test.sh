#!/usr/bin/env bash
# A spool holding bad files next to good entries: a truncated entry, one with
# a flipped payload byte (wrong checksum), foreign files, a leftover temporary
# file, entries profefe refuses (400: a type it does not know; a body that is
# no profile) and an empty profile (no samples: profefe refuses it, as an older
# collector would have spooled it). The collector quarantines the bad files
# with one log line each naming file and reason, counts them, moves the
# refused entries to rejected/ with profefe's error text, deletes the empty
# one (not rejected/: nothing to look into there), never crashes, and every
# valid entry arrives. (A 5xx that profefe keeps giving for one entry is
# tested in the unit tests: neither profefe gives one on demand.)
# The valid entries are real: a collector wrote them while profefe was down.
# kprofefe-spool, the operators' tool, says the same of each file: verify
# passes the seeded spool and names each bad file with what is wrong, and its
# cat gives a profile that go tool pprof reads.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/collector_lib.sh"
source "$(dirname "$0")/spool_lib.sh"

ns=corrupt-$RANDOM
svc=svc-$ns
types=(heap goroutine threadcreate)
spool=$E2E_TMP/spool
spool_pod "$ns" p1 "$svc"
e2e_extra_cleanup() {
	collectors_stop_all
	"$CLUSTER" profefe start >/dev/null 2>&1 || true
}

# Seed: real entries, written while profefe is down, flushed by SIGTERM.
"$CLUSTER" profefe stop >/dev/null
spool_collector seed "$SPOOL_NODE" "$spool" --profiles "$(IFS=,; echo "${types[*]}")"
wait_for 30 metric_at_least seed kprofefe_spool_written_total 9
collector_stop seed
assert_eq 0 "$collector_rc" "exit status of the seeding collector"
"$CLUSTER" pod del p1 --namespace "$ns" >/dev/null
mapfile -t entries < <(spool_entries "$spool")
n=${#entries[@]}
((n >= 9)) || fail "only $n entries seeded"
out=$("$KPROFEFE_SPOOL_BIN" verify "$spool" 2>&1) || fail "kprofefe-spool verify failed on the seeded spool: $out"
assert_eq "kprofefe-spool: $n files checked, 0 bad" "$out" "kprofefe-spool verify of the seeded spool"
"$KPROFEFE_SPOOL_BIN" cat "$spool/${entries[0]}" >"$E2E_TMP/first.pb.gz"
pprof_top "$E2E_TMP/first.pb.gz" >/dev/null

# Damage two of them.
truncated=${entries[1]}
flipped=${entries[3]}
size=$(stat -c %s "$spool/$truncated")
truncate -s $((size / 2)) "$spool/$truncated"
size=$(stat -c %s "$spool/$flipped")
last=$(tail -c 1 "$spool/$flipped" | od -An -t u1 | tr -d ' ')
printf "\\$(printf '%03o' $((last ^ 1)))" | dd of="$spool/$flipped" bs=1 seek=$((size - 1)) conv=notrunc status=none
# Files that are not ours, and a write that a crash interrupted.
foreign=notes.txt
echo "not a profile" >"$spool/$foreign"
fake=00000000000000000001-0000000000.prof
head -c 200 /dev/urandom >"$spool/$fake"
tmp=.tmp-${entries[0]%%-*}-9999999999.prof
head -c 30 "$spool/${entries[0]}" >"$spool/$tmp"
# Well-formed entries, oldest of all, that profefe will not store.
t0=${entries[0]%%-*}
labels=$(spool_entry_field "$spool/${entries[0]}" labels)
spool_payload "$spool/${entries[0]}" >"$E2E_TMP/payload"
refused=$(printf '%020d-9000000001.prof' $((10#$t0 - 2000)))
spool_write_entry "$spool/$refused" "$svc" bogus "$labels" $((10#$t0 - 2000)) "$E2E_TMP/payload"
echo "this is no pprof profile" >"$E2E_TMP/junk"
unstorable=$(printf '%020d-9000000002.prof' $((10#$t0 - 1000)))
spool_write_entry "$spool/$unstorable" "$svc" heap "$labels" $((10#$t0 - 1000)) "$E2E_TMP/junk"
empty=$(printf '%020d-9000000003.prof' $((10#$t0 - 500)))
spool_write_entry "$spool/$empty" "$svc" mutex "$labels" $((10#$t0 - 500)) "$E2E_ROOT/tests/data/pprof/mutex-empty.pb.gz"
cp "$spool/$refused" "$spool/$unstorable" "$E2E_TMP/"

# kprofefe-spool verify names every bad file, and only those, with its fault.
rc=0
out=$("$KPROFEFE_SPOOL_BIN" verify "$spool" 2>/dev/null) || rc=$?
assert_eq 1 "$rc" "exit status of kprofefe-spool verify on a damaged spool"
assert_eq "$(printf '%s\n' "$spool/$refused: unknown_type: not a profefe type" \
	"$spool/$unstorable: bad_profile: text" "$spool/$empty: empty_profile: no samples" \
	"$spool/$fake: corrupt: bad magic" "$spool/$truncated: corrupt: truncated" \
	"$spool/$flipped: corrupt: checksum mismatch" "$spool/$foreign: not_entry: not a spool entry" |
	LC_ALL=C sort)" "$(LC_ALL=C sort <<<"$out")" "the bad files kprofefe-spool verify names"
rc=0
"$KPROFEFE_SPOOL_BIN" cat "$spool/$flipped" >/dev/null 2>"$E2E_TMP/cat.err" || rc=$?
assert_eq 1 "$rc" "exit status of kprofefe-spool cat on a corrupt entry"
assert_eq "kprofefe-spool: $spool/$flipped: corrupt: checksum mismatch" "$(cat "$E2E_TMP/cat.err")" \
	"kprofefe-spool cat's error"

# What must arrive: the payloads of the intact entries.
: >"$E2E_TMP/want"
for e in "${entries[@]}"; do
	[[ $e == "$truncated" || $e == "$flipped" ]] && continue
	spool_payload "$spool/$e" | sha256sum | awk '{ print $1 }' >>"$E2E_TMP/want"
done
LC_ALL=C sort -o "$E2E_TMP/want" "$E2E_TMP/want"

# profefe is back; a collector without pods drains the spool.
"$CLUSTER" profefe start >/dev/null
spool_collector drain "$SPOOL_IDLE_NODE" "$spool" --spool-drain-rate 20
wait_for 60 spool_empty "$spool"
wait_for 10 metric_is drain kprofefe_spool_entries 0
log=$E2E_TMP/drain.log

# Quarantined: exactly the bad files, each named in a log line with its reason.
assert_eq "$(printf '%s\n' "$truncated" "$flipped" "$foreign" "$fake" | LC_ALL=C sort)" \
	"$(ls -A "$spool/quarantine" | LC_ALL=C sort)" "files in quarantine/"
for want in "$truncated=truncated" "$flipped=checksum mismatch" "$foreign=not a spool entry" \
	"$fake=bad magic"; do
	log_json_has "$log" --arg dir "$spool" --arg file "${want%%=*}" --arg why "${want#*=}" \
		'.msg == "spool file quarantined" and .dir == $dir and .file == $file and
		 .reason == $why and .moved == "true"' || fail "no quarantine log line with: $want"
done
assert_eq 4 "$(metric_value drain kprofefe_spool_quarantined_total)" "kprofefe_spool_quarantined_total"
log_json_has "$log" --arg dir "$spool" --arg file "$tmp" \
	'.msg == "spool: removed leftover temporary file" and .dir == $dir and .file == $file' ||
	fail "the leftover temporary file was not removed with a log line"

# Rejected: the refused entries at once with profefe's error text; the empty
# one deleted, counted and said.
assert_eq "$(printf '%s\n' "$refused" "$unstorable" | LC_ALL=C sort)" \
	"$(ls -A "$spool/rejected" | LC_ALL=C sort)" "files in rejected/"
cmp -s "$spool/rejected/$refused" "$E2E_TMP/$refused" || fail "the refused entry changed on its way to rejected/"
cmp -s "$spool/rejected/$unstorable" "$E2E_TMP/$unstorable" || fail "the unstorable entry changed on its way to rejected/"
rejected() { # ENTRY TYPE ERROR-REGEX: the log line of profefe's 400 for ENTRY
	log_json_has "$log" --arg svc "$svc" --arg entry "$1" --arg type "$2" --arg error "$3" \
		'.msg == "profefe rejected profile" and .service == $svc and .type == $type and
		 .status == "400" and .spooled == $entry and (.error | test($error))'
}
rejected "$refused" bogus '^HTTP 400: bad request: unknown profile type$' ||
	fail "no log line with profefe's 400 for $refused: $(log_json "$log" 'select(.msg == "profefe rejected profile")')"
rejected "$unstorable" heap '^HTTP 400: malformed profile \(could not parse pprof profile: .*\)$' ||
	fail "no log line with profefe's 400 for $unstorable: $(log_json "$log" 'select(.msg == "profefe rejected profile")')"
assert_eq 2 "$(metric_value drain kprofefe_spool_rejected_total)" "kprofefe_spool_rejected_total"
log_json_has "$log" --arg svc "$svc" --arg entry "$empty" \
	'.msg == "profefe refused an empty profile (no samples); dropped" and .service == $svc and
	 .type == "mutex" and .spooled == $entry' ||
	fail "no log line dropping the empty entry $empty: $(log_json "$log" 'select(.msg | test("empty"))')"
assert_eq 1 "$(metric_value drain 'kprofefe_profiles_skipped_total{type="mutex",reason="empty"}')" "empty profiles skipped"
[[ ! -e $spool/$empty && ! -e $spool/rejected/$empty ]] || fail "the empty entry is still in the spool"

# Every valid entry arrived, and nothing else for the service.
for t in "${types[@]}"; do profefe_download "$svc" "$t" "$E2E_TMP/got/$t"; done
mapfile -t got < <(find "$E2E_TMP/got" -name '*.pb.gz')
assert_eq "$(cat "$E2E_TMP/want")" "$(hashes "${got[@]}")" "payloads in profefe vs the valid entries"
# Drained: the valid entries and the empty one (deleted once profefe refused it).
assert_eq $((n - 1)) "$(metric_value drain kprofefe_spool_drained_total)" "kprofefe_spool_drained_total"

collector_stop drain
assert_eq 0 "$collector_rc" "exit status of the draining collector"
echo "PASS: kprofefe-spool verify passed the seeded spool and named the 7 bad files; $((n - 2)) valid entries arrived; 4 bad files quarantined, 1 temporary removed, 2 entries rejected, 1 empty one dropped, each logged and counted"
