#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The benchmark harness behind `make bench` (all scenarios) and `make bench BENCH=name`
# (one, or a space-separated list). A scenario is any executable file
# bench/scenarios/<name>.sh or <name>.py: dropping a file there adds a benchmark. Each
# writes build/bench/<name>.json in the format of BENCH.md; afterwards bench/report.py
# renders build/bench/report.md with plots and rewrites README's Performance section.
#
# It installs its peer (Etsy statsd from npm, into build/bench/peers) when missing, runs
# every scenario under a time limit, and on any exit kills by PID every daemon or peer a
# scenario started (they are recorded in build/bench/.pids) and the scenario itself.
#
# Environment: SLUICE_BUILD (default build), SLUICE_BENCH_OUT (default $SLUICE_BUILD/bench),
# BENCH_RUNS (runs per figure, default 3; parse_aggregate 5), BENCH_SECONDS (load per run,
# default 5), BENCH_TIMEOUT (seconds per scenario, default 1200), BENCH_NO_README=1 to
# leave README.md alone.
set -euo pipefail
cd "$(dirname "$0")/.."

export SLUICE_BUILD=${SLUICE_BUILD:-build}
export SLUICE_BENCH_OUT=${SLUICE_BENCH_OUT:-$SLUICE_BUILD/bench}
export SLUICE_BENCH_RUN=1
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ "$commit" != unknown ] && ! git diff --quiet HEAD -- . ':!README.md' 2>/dev/null; then
    commit="$commit-dirty"
fi
export SLUICE_COMMIT=$commit
PY=/usr/bin/python3
STATSD_VERSION=0.9.0   # newest on npm; keep in step with bench/lib/benchlib.py
# Order of `make bench`: cheap and self-contained first, the long sweep last but one.
ORDER=(parse_aggregate statsd_udp statsd_tcp semantics statsd_sweep)

mkdir -p "$SLUICE_BENCH_OUT/.pids"

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

child=
cleanup() {
    local rc=$?
    trap - EXIT INT TERM HUP
    if [ -n "$child" ] && kill -0 "$child" 2>/dev/null; then
        kill -TERM "$child" 2>/dev/null || true
        for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$child" 2>/dev/null || break; sleep 0.5; done
        kill -KILL "$child" 2>/dev/null || true
    fi
    local f pid
    for f in "$SLUICE_BENCH_OUT"/.pids/*; do
        [ -e "$f" ] || continue
        pid=${f##*/}
        if [ -d "/proc/$pid" ]; then
            log "stopping leftover process $pid ($(head -c 80 "$f"))"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        rm -f "$f"
    done
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

scenario_path() {
    local f
    for f in "bench/scenarios/$1.sh" "bench/scenarios/$1.py"; do
        [ -f "$f" ] && { echo "$f"; return 0; }
    done
    return 1
}

all_scenarios() {
    local seen=" " n f
    for n in "${ORDER[@]}"; do
        scenario_path "$n" >/dev/null && { echo "$n"; seen+="$n "; }
    done
    for f in bench/scenarios/*.sh bench/scenarios/*.py; do
        [ -e "$f" ] || continue
        n=$(basename "$f"); n=${n%.*}
        case "$seen" in *" $n "*) ;; *) echo "$n"; seen+="$n " ;; esac
    done
}

install_statsd() {
    STATSD_VERSION=$STATSD_VERSION "$(dirname "$0")/../tools/install_statsd_peer.sh" \
        "$SLUICE_BENCH_OUT/peers" || { log "could not install the Etsy statsd peer"; return 1; }
}

if [ "${1:-}" = list ]; then
    all_scenarios
    exit 0
fi

# BENCH may hold several names separated by spaces or commas.
want=()
for a in "$@"; do
    for n in ${a//,/ }; do want+=("$n"); done
done
[ ${#want[@]} -eq 0 ] && mapfile -t want < <(all_scenarios)
for n in "${want[@]}"; do
    if ! scenario_path "$n" >/dev/null; then
        log "unknown benchmark '$n'; available: $(all_scenarios | tr '\n' ' ')"
        exit 2
    fi
done

for bin in "$SLUICE_BUILD/tools/sluiced" "$SLUICE_BUILD/tools/sluice-loadgen"; do
    [ -x "$bin" ] || { log "missing $bin: build first (make bench does)"; exit 2; }
done

needs_peer=0
for n in "${want[@]}"; do
    grep -qs "EtsyStatsd" "$(scenario_path "$n")" && needs_peer=1
done
if [ $needs_peer = 1 ] && ! install_statsd; then
    log "could not install the Etsy statsd peer; scenarios that need it will fail"
fi

failed=()
t0=$(date +%s)
i=0
for n in "${want[@]}"; do
    i=$((i + 1))
    f=$(scenario_path "$n")
    log "=== [$i/${#want[@]}] $n ($f)"
    case "$f" in
        *.py) cmd=("$PY" "$f") ;;
        *) cmd=(bash "$f") ;;
    esac
    timeout --signal=TERM --kill-after=20 "${BENCH_TIMEOUT:-1200}" "${cmd[@]}" &
    child=$!
    if wait "$child"; then
        log "=== $n done"
    else
        log "=== $n FAILED (exit $?)"
        failed+=("$n")
    fi
    child=
done
log "benchmarks took $(( $(date +%s) - t0 ))s"

readme_args=()
[ "${BENCH_NO_README:-0}" = 1 ] || readme_args=(--readme README.md)
"$PY" bench/report.py --out "$SLUICE_BENCH_OUT" "${readme_args[@]}"
log "report: $SLUICE_BENCH_OUT/report.md"

if [ ${#failed[@]} -gt 0 ]; then
    log "failed: ${failed[*]}"
    exit 1
fi
