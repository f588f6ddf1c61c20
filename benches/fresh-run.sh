#!/usr/bin/env bash
# One loadgen run against a freshly started server, as in results/README.md:
# starts target/release/server on a free loopback port with flood control
# off (and, unless the flags give --db, its database in memory), points
# the loadgen at it (plain address, or the TLS one where the
# loadgen flags say @TLS@) with --server-pid, optionally records a perf
# profile of the server meanwhile, and stops the server after.
#
#   benches/fresh-run.sh LABEL "SERVER FLAGS" "LOADGEN FLAGS" [PERF_SECS]
#   benches/fresh-run.sh s1 "--threads 2 --notice-limit 0" \
#       "--clients 1000 --senders 10 --rate 500 --size 64 --duration 30s --threads 2"
#   benches/fresh-run.sh tls "--threads 2 --tls-port 0 --tls-self-signed" \
#       "--tls --insecure --addr @TLS@ --clients 1000"
#
# Result files go to results/ (OUT overrides); the server's output, the
# loadgen's summary and any perf.data go to LOGS (default /tmp/shardchat-runs).
# PERF_SECS > 0 runs `perf record -e cpu-clock -g` on the server for that
# long, starting PERF_DELAY seconds (default 8) into the run. With
# --admin-port in the server flags, /metrics, /connz and /varz are scraped
# once a second (SCRAPE_EVERY) during the run, as a Prometheus would.
set -uo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 3 ]; then
    sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi
label=$1 server_flags=$2 loadgen_flags=$3 perf_secs=${4:-0}
out=${OUT:-results} logs=${LOGS:-/tmp/shardchat-runs}
mkdir -p "$logs"

# No database file unless the flags name one: runs must not share history.
case " $server_flags " in
*" --db "*) ;;
*) server_flags="--db :memory: $server_flags" ;;
esac
# shellcheck disable=SC2086 # the flag strings are meant to split
target/release/server --bind 127.0.0.1 --port 0 --rate-limit 0 $server_flags \
    >"$logs/$label.server.out" 2>"$logs/$label.server.err" &
server=$!
trap 'kill $server 2>/dev/null' EXIT
for _ in $(seq 100); do
    grep -q 'Listening on' "$logs/$label.server.out" 2>/dev/null && break
    sleep 0.1
done
addr=$(grep -o 'Listening on [0-9.]*:[0-9]*' "$logs/$label.server.out" | head -1 | sed 's/Listening on //')
tls=$(grep -o 'TLS on [0-9.]*:[0-9]*' "$logs/$label.server.out" | head -1 | sed 's/TLS on //')
if [ -z "$addr" ]; then
    echo "fresh-run: the server did not start; see $logs/$label.server.err" >&2
    exit 2
fi
loadgen_flags=${loadgen_flags//@TLS@/$tls}
case " $loadgen_flags " in
*" --addr "*) ;;
*) loadgen_flags="--addr $addr $loadgen_flags" ;;
esac
echo "== $label: server pid $server on $addr${tls:+ (TLS $tls)}: $server_flags"
admin=
case " $server_flags " in
*" --admin-port "*)
    for _ in $(seq 50); do
        grep -q 'Admin on' "$logs/$label.server.out" && break
        sleep 0.1
    done
    admin=$(grep -o 'Admin on [0-9.]*:[0-9]*' "$logs/$label.server.out" | head -1 | sed 's/Admin on //')
    ;;
esac
if [ -n "$admin" ]; then
    (while kill -0 "$server" 2>/dev/null; do
         for path in metrics connz varz; do
             curl -s -o /dev/null "http://$admin/$path"
         done
         sleep "${SCRAPE_EVERY:-1}"
     done) &
    echo "   scraping http://$admin/metrics every ${SCRAPE_EVERY:-1} s"
fi
echo "   loadgen $loadgen_flags"

if [ "$perf_secs" != 0 ]; then
    (sleep "${PERF_DELAY:-8}"
     perf record -e cpu-clock -g -p "$server" -o "$logs/$label.perf.data" -- sleep "$perf_secs" \
         >/dev/null 2>&1) &
    perf_job=$!
fi
# shellcheck disable=SC2086
target/release/loadgen --server-pid "$server" --out "$out" --label "$label" $loadgen_flags \
    >"$logs/$label.out" 2>&1
status=$?
[ "$perf_secs" != 0 ] && wait "$perf_job"
kill "$server"
wait "$server" 2>/dev/null
trap - EXIT
cat "$logs/$label.out"
echo "loadgen exit status $status"
exit "$status"
