#!/bin/sh
# Runs every test binary under build/tests (given as $1). Exit status 0 is
# a pass, 77 a skip, anything else a failure; each test has its own
# watchdog, and `timeout` is a second line of defence. Logs go to
# $1/logs/NAME.log; a failure prints its log.
set -u
dir=$1
logs=$dir/logs
mkdir -p "$logs"
pass=0 fail=0 skip=0 failed=""
limit=${SBTHREAD_TEST_OUTER_TIMEOUT:-180}
for bin in "$dir"/*-so "$dir"/*-a "$dir"/special/* "$dir"/graft/*; do
    [ -x "$bin" ] || continue
    name=$(basename "$bin")
    case "$bin" in */special/*) name="special-$name" ;; */graft/late) name="graft-late" ;; esac
    start=$(date +%s%N)
    case "$name" in
        special-lazy_init) timeout "$limit" "$bin" "${SBTHREAD_LIB:?}" > "$logs/$name.log" 2>&1 ;;
        *) timeout "$limit" "$bin" > "$logs/$name.log" 2>&1 ;;
    esac
    rc=$?
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    case $rc in
        0) pass=$((pass + 1)); printf 'PASS %-40s %6d ms\n' "$name" "$ms" ;;
        77) skip=$((skip + 1)); printf 'SKIP %-40s %s\n' "$name" "$(tail -n 1 "$logs/$name.log")" ;;
        *) fail=$((fail + 1)); failed="$failed $name"
           printf 'FAIL %-40s exit %d\n' "$name" "$rc"
           sed 's/^/    | /' "$logs/$name.log" | tail -n 60 ;;
    esac
done
echo "C tests: $pass passed, $skip skipped, $fail failed"
[ "$fail" -eq 0 ] || { echo "failed:$failed"; exit 1; }
