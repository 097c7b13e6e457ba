#!/usr/bin/env bash
# Throughput and latency of the affinity proxy on loopback with wrk: the same proxy, selection by
# ringroute (nginx ring, Maglev) and by pingora's KetamaHashing, in rounds of one run (each round
# starts with the next selection, so a machine getting busier or quieter favours none).
# Needs wrk (Debian: apt-get install wrk). Usage: pingora/wrk/compare.sh [seconds] [rounds]
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS="${1:-10}"
ROUNDS="${2:-2}"
TARGET="${CARGO_TARGET_DIR:-target}"
cargo build --release --quiet -p ringroute-pingora --example affinity_proxy --example name_backends
BIN="$TARGET/release/examples"
WORK="$(mktemp -d)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
ADDRS=(127.0.0.1:18101 127.0.0.1:18102 127.0.0.1:18103 127.0.0.1:18104 127.0.0.1:18105)
printf '["%s", "%s", "%s", "%s", "%s"]\n' "${ADDRS[@]}" > "$WORK/backends.json"
"$BIN/name_backends" "${ADDRS[@]}" 2>/dev/null &
PIDS+=($!)
sleep 0.5
SELECTIONS=(ring maglev ketama)
for round in $(seq "$ROUNDS"); do
  for i in 0 1 2; do
    sel="${SELECTIONS[$(( (round - 1 + i) % 3 ))]}"
    "$BIN/affinity_proxy" --backends "$WORK/backends.json" --listen 127.0.0.1:18100 \
      --selection "$sel" --threads 1 2>/dev/null &
    proxy=$!
    for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/18100) 2>/dev/null && break; sleep 0.1; done
    out="$(wrk -t1 -c32 -d"${SECS}s" --latency -s pingora/wrk/sessions.lua http://127.0.0.1:18100/)"
    rps="$(awk '/^Requests\/sec/ {print $2}' <<<"$out")"
    p50="$(awk '$1 == "50%" {print $2}' <<<"$out")"
    p99="$(awk '$1 == "99%" {print $2}' <<<"$out")"
    errs="$(grep -E 'Non-2xx|Socket errors' <<<"$out" || true)"
    printf 'round %s  %-7s  %10s req/s  p50 %8s  p99 %8s  %s\n' "$round" "$sel" "$rps" "$p50" "$p99" "$errs"
    kill "$proxy"
    wait "$proxy" 2>/dev/null || true
  done
done
