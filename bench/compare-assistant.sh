#!/usr/bin/env bash
# Palaver's streamed assistant replies vs the relay, same shapes, same run. Usage (from the
# project root):
#   bench/compare-assistant.sh [sqlite|postgres]
# PALAVER_BIN and LOADGEN_BIN pick other binaries (default: target/release/palaver and
# target/release/palaver-loadgen).
set -u
bench="$(cd "$(dirname "$0")" && pwd)"
root="$(pwd)"
backend=${1:-sqlite}
PAL_BIN="${PALAVER_BIN:-$root/target/release/palaver}"
LG_BIN="${LOADGEN_BIN:-$root/target/release/palaver-loadgen}"
[ -x "$PAL_BIN" ] || { echo "build it first: cargo build --release -p palaver"; exit 1; }
[ -x "$LG_BIN" ] || { echo "build it first: cargo build --release -p palaver-loadgen"; exit 1; }
export CARGO_TARGET_DIR="${BENCH_TARGET_DIR:-$HOME/.cache/palaver-bench-target}"
(cd "$bench/relay" && cargo build --release -q) || exit 1
RELAY_BIN="$CARGO_TARGET_DIR/release/relay"
RELAY_PORT=9004 UPSTREAM_PORT=9005
case "$backend" in
  sqlite) db=(--db sqlite) ;;
  postgres) db=(--db postgres --database-url postgres://postgres@127.0.0.1:5432/postgres) ;;
  *) echo "usage: $0 [sqlite|postgres]"; exit 1 ;;
esac
# 1,000 replies hold a client and an upstream socket each.
ulimit -n "$(ulimit -Hn)" 2>/dev/null
log=/tmp/bench-assistant-loadgen.log
: >"$log"
RELAY=""
cleanup() { [ -n "$RELAY" ] && kill "$RELAY" 2>/dev/null; }
trap cleanup EXIT

# A fresh relay for each run, as the load generator starts a fresh Palaver for each.
start_relay() {
  PORT=$RELAY_PORT RELAY_LLM_BASE_URL="http://127.0.0.1:$UPSTREAM_PORT/v1" "$RELAY_BIN" >/tmp/bench-relay.log 2>&1 &
  RELAY=$!
  for _ in $(seq 50); do grep -q listening /tmp/bench-relay.log && return 0; sleep 0.1; done
  cat /tmp/bench-relay.log; echo "the relay did not start"; exit 1
}
stop_relay() { kill "$RELAY" 2>/dev/null; wait "$RELAY" 2>/dev/null; RELAY=""; }

pair() {  # shape-name loadgen-args...
  local name=$1; shift
  local r p
  start_relay
  r=$("$LG_BIN" assistant --url "http://127.0.0.1:$RELAY_PORT" --server-pid "$RELAY" \
        --upstream-port "$UPSTREAM_PORT" --tokens-per-sec 20 "$@" --json 2>>"$log")
  stop_relay
  p=$("$LG_BIN" assistant --server-bin "$PAL_BIN" "${db[@]}" --tokens-per-sec 20 "$@" --json 2>>"$log")
  python3 - "$name" "$r" "$p" <<'PY'
import json, sys
name, raw = sys.argv[1], sys.argv[2:]
runs = []
for who, text in zip(("relay", "palaver"), raw):
    try:
        runs.append(json.loads(text))
    except ValueError:
        print(f"{name}: the {who} run gave no report (see /tmp/bench-assistant-loadgen.log)")
        sys.exit(1)
def ms(run, key, q):
    return run.get(key, {}).get(q, float("nan"))
def side(who, run):
    state = "ok" if run["ok"] else "FAILED " + "; ".join(map(str, run["failures"]))
    return (f"{who} ttfc+ p50 {ms(run, 'latency_ttfc_added', 'p50_ms'):6.2f} p99 {ms(run, 'latency_ttfc_added', 'p99_ms'):7.2f}"
            f" to-upstream p99 {ms(run, 'latency_added_send_to_upstream', 'p99_ms'):7.2f}"
            f" chunk p99 {ms(run, 'latency_chunk_delivery', 'p99_ms'):7.2f} ms"
            f" lost {run['chunks_lost']} {state}")
r, p = runs
ratio = lambda key: ms(p, key, "p99_ms") / max(ms(r, key, "p99_ms"), 0.001)
print(f"{name:<9} {side('relay', r)} | {side('palaver', p)} | "
      f"p99 ttfc+ {ratio('latency_ttfc_added'):.2f}x chunk {ratio('latency_chunk_delivery'):.2f}x")
PY
}

echo "backend: $backend (1,000 replies at 20 chunks/s; ms; ttfc+ = time to first chunk added to the upstream's own)"
pair short --replies 1000 --ramp-secs 2
pair long --replies 1000 --tokens 300 --ramp-secs 10
