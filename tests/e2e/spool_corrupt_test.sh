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
for e in "${entries[@]}"; do spool_entry_ok "$spool/$e" || fail "seeded entry $e is not complete"; done

# Damage two of them.
truncated=${entries[1]}
flipped=${entries[3]}
size=$(stat -c %s "$spool/$truncated")
truncate -s $((size / 2)) "$spool/$truncated"
size=$(stat -c %s "$spool/$flipped")
last=$(tail -c 1 "$spool/$flipped" | od -An -t u1 | tr -d ' ')
printf "\\$(printf '%03o' $((last ^ 1)))" | dd of="$spool/$flipped" bs=1 seek=$((size - 1)) conv=notrunc status=none
spool_entry_ok "$spool/$flipped" 2>/dev/null && fail "flipping a payload byte kept the checksum right"
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
for e in "$refused" "$unstorable" "$empty"; do spool_entry_ok "$spool/$e" || fail "crafted entry $e is malformed"; done
cp "$spool/$refused" "$spool/$unstorable" "$E2E_TMP/"

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
log=$(collector_log drain)

# Quarantined: exactly the bad files, each named in a log line with its reason.
assert_eq "$(printf '%s\n' "$truncated" "$flipped" "$foreign" "$fake" | LC_ALL=C sort)" \
	"$(ls -A "$spool/quarantine" | LC_ALL=C sort)" "files in quarantine/"
for want in "file=$truncated reason=truncated" "file=$flipped reason=\"checksum mismatch\"" \
	"file=$foreign reason=\"not a spool entry\"" "file=$fake reason=\"bad magic\""; do
	grep -q "msg=\"spool file quarantined\" dir=$spool $want moved=true" <<<"$log" ||
		fail "no quarantine log line with: $want"
done
assert_eq 4 "$(metric_value drain kprofefe_spool_quarantined_total)" "kprofefe_spool_quarantined_total"
grep -q "msg=\"spool: removed leftover temporary file\" dir=$spool file=$tmp" <<<"$log" ||
	fail "the leftover temporary file was not removed with a log line"

# Rejected: the refused entries at once with profefe's error text; the empty
# one deleted, counted and said.
assert_eq "$(printf '%s\n' "$refused" "$unstorable" | LC_ALL=C sort)" \
	"$(ls -A "$spool/rejected" | LC_ALL=C sort)" "files in rejected/"
cmp -s "$spool/rejected/$refused" "$E2E_TMP/$refused" || fail "the refused entry changed on its way to rejected/"
cmp -s "$spool/rejected/$unstorable" "$E2E_TMP/$unstorable" || fail "the unstorable entry changed on its way to rejected/"
grep -q "msg=\"profefe rejected profile\" service=$svc type=bogus status=400 error=\"HTTP 400: bad request: unknown profile type\" spooled=$refused" <<<"$log" ||
	fail "no log line with profefe's 400 for $refused: $(grep rejected <<<"$log")"
grep -q "msg=\"profefe rejected profile\" service=$svc type=heap status=400 error=\"HTTP 400: malformed profile (could not parse pprof profile: .*)\" spooled=$unstorable" <<<"$log" ||
	fail "no log line with profefe's 400 for $unstorable: $(grep rejected <<<"$log")"
assert_eq 2 "$(metric_value drain kprofefe_spool_rejected_total)" "kprofefe_spool_rejected_total"
grep -q "msg=\"profefe refused an empty profile (no samples); dropped\" service=$svc type=mutex spooled=$empty" <<<"$log" ||
	fail "no log line dropping the empty entry $empty: $(grep -i empty <<<"$log")"
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
echo "PASS: $((n - 2)) valid entries arrived; 4 bad files quarantined, 1 temporary removed, 2 entries rejected, 1 empty one dropped, each logged and counted"
