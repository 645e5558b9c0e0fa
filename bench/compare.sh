#!/usr/bin/env bash
# Palaver vs the ceiling, same shapes, same run. Usage (from the project root):
#   bench/compare.sh [sqlite|postgres]
# PALAVER_BIN picks another Palaver binary (default: target/release/palaver).
set -u
bench="$(cd "$(dirname "$0")" && pwd)"
root="$(pwd)"
backend=${1:-sqlite}
PAL_BIN="${PALAVER_BIN:-$root/target/release/palaver}"
[ -x "$PAL_BIN" ] || { echo "build it first: cargo build --release -p palaver"; exit 1; }
export CARGO_TARGET_DIR="${BENCH_TARGET_DIR:-$HOME/.cache/palaver-bench-target}"
(cd "$bench/wsbench" && cargo build --release -q) || exit 1
(cd "$bench/ceiling" && cargo build --release -q) || exit 1
B="$CARGO_TARGET_DIR/release/wsbench"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; }
trap cleanup EXIT
PORT=9003 "$CARGO_TARGET_DIR/release/ceiling" >/tmp/bench-ceiling.log 2>&1 & pids+=($!); CEIL=$!
d=$(mktemp -d)
env=(PALAVER_BIND=127.0.0.1:0 PALAVER_DATA_DIR=$d PALAVER_LOG=warn
     PALAVER_WS_RATE_PER_SEC=100000 PALAVER_WS_RATE_BURST=100000
     PALAVER_LIMITS_AUTH_PER_SEC=100000 PALAVER_LIMITS_AUTH_BURST=100000
     PALAVER_LIMITS_WRITES_PER_SEC=100000 PALAVER_LIMITS_WRITE_BURST=100000)
if [ "$backend" = postgres ]; then
  db=bench_$RANDOM$RANDOM
  psql -h 127.0.0.1 -U postgres -d postgres -qc "create database $db" || exit 1
  env+=(PALAVER_DATABASE_URL=postgres://postgres@127.0.0.1:5432/$db)
fi
env "${env[@]}" "$PAL_BIN" serve >/tmp/bench-palaver.log 2>&1 & pids+=($!); PALPID=$!
PAL=""
for _ in $(seq 100); do PAL=$(grep -oE "http://127\.0\.0\.1:[0-9]+" /tmp/bench-palaver.log | head -n1); [ -n "$PAL" ] && break; sleep 0.2; done
[ -n "$PAL" ] || { cat /tmp/bench-palaver.log; echo "palaver did not start"; exit 1; }
sleep 1
pair() {  # shape-name args...
  local name=$1; shift
  local c p
  c=$($B fanout --target plain --url ws://127.0.0.1:9003/ "$@" --json) || return 1
  p=$($B fanout --target palaver --url "$PAL" "$@" --json) || return 1
  python3 - "$name" "$c" "$p" <<'PY'
import json, sys
name, c, p = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
print(f"{name:<11} ceiling {c['deliveries_per_s']:>9.0f}/s p50 {c['p50_ms']:7.2f} p99 {c['p99_ms']:8.2f} ms | "
      f"palaver {p['deliveries_per_s']:>9.0f}/s p50 {p['p50_ms']:7.2f} p99 {p['p99_ms']:8.2f} ms "
      f"gaps {p['seq_gaps']} | rate {p['deliveries_per_s']/c['deliveries_per_s']:.2f}x p99 {p['p99_ms']/max(c['p99_ms'],0.001):.2f}x")
PY
}
echo "backend: $backend"
pair saturation --subscribers 2000 --rate 500 --seconds 6 --warmup 2
pair latency --subscribers 200 --rate 500 --seconds 6 --warmup 2
c=$($B connections --target plain --url ws://127.0.0.1:9003/ --n 15000 --pid $CEIL --hold 3 --json)
p=$($B connections --target palaver --url "$PAL" --n 15000 --pid $PALPID --hold 3 --json)
python3 - "$c" "$p" <<'PY'
import json, sys
c, p = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"idle        ceiling {c['bytes_per_socket']/1024:.1f} KiB/socket | palaver {p['bytes_per_socket']/1024:.1f} KiB/socket")
PY
rm -rf "$d"
