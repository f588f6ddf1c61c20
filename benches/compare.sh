#!/usr/bin/env bash
# Compares shardchat with Redis and NATS pub/sub on the same fan-out work:
# builds the server and the loadgen, then runs `loadgen compare`, which
# starts each server itself on a free loopback port and writes
# results/compare.md with one latency plot per scenario.
#
#   benches/compare.sh                      # scenarios a-d, twice each
#   benches/compare.sh --quick --out /tmp/c # seconds-long check that it all works
#   benches/compare.sh --help               # every option
#
# Needs redis-server and nats-server for the comparison; a missing one is
# named in the report and left out.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bins --quiet
exec target/release/loadgen compare "$@"
