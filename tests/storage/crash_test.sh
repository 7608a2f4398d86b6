#!/usr/bin/env bash
# Crash safety: kill -9 the writer at random moments, reopen, and check that every batch it
# acknowledged is readable and the store opens cleanly. CYCLES (default 20; SL_CRASH_SOAK=1
# makes it 100) cycles, each bounded; the whole run stays under ~60 s by default.
set -euo pipefail
writer=$1
cycles=${SL_CRASH_CYCLES:-20}
[ "${SL_CRASH_SOAK:-0}" = 1 ] && cycles=${SL_CRASH_CYCLES:-100}
dir=$(mktemp -d /tmp/sl_crash_XXXXXX)
trap 'rm -rf "$dir"' EXIT
next=0
acked=-1
deadline=$((SECONDS + ${SL_CRASH_SECONDS:-55}))
for ((i = 1; i <= cycles; i++)); do
    if ((SECONDS >= deadline)); then
        echo "time budget reached after $((i - 1)) cycles" >&2
        [ "$i" -gt 20 ] || { echo "FAIL: fewer than 20 cycles in the time budget" >&2; exit 1; }
        break
    fi
    "$writer" write "$dir/store" "$next" > "$dir/out" 2> "$dir/err" &
    pid=$!
    # a random moment between 20 and 400 ms
    sleep "0.$(printf '%03d' $((20 + RANDOM % 380)))"
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    if [ -s "$dir/out" ]; then
        acked=$(tail -n 1 "$dir/out")
    fi
    if ! max=$("$writer" verify "$dir/store" "$acked" 2> "$dir/verr"); then
        echo "FAIL cycle $i: acknowledged up to $acked" >&2
        cat "$dir/verr" "$dir/err" >&2
        exit 1
    fi
    next=$((max + 1))
    echo "cycle $i: acknowledged=$acked present=$max"
done
echo "crash test passed: $((i - 1)) cycles, last acknowledged batch $acked"
