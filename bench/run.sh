#!/usr/bin/env bash
# End-to-end benchmark harness (DESIGN §13). Builds release, starts the mock model server
# (examples/mock_server.rs), runs each scenario against a throwaway project and prints a
# markdown table: each time beside its ideal (the mock's latency floor plus the cost of
# spawning a process, both measured in this run).
#
#   bench/run.sh            # build, run, print the table
#   SKIP_BUILD=1 bench/run.sh
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
if [[ -z "${SKIP_BUILD:-}" ]]; then
  cargo build --release --bin llm-do --example mock_server >&2
fi
bin="$repo/target/release/llm-do"
mock_bin="$repo/target/release/examples/mock_server"
work="$(mktemp -d)"
mock_pid=""
cleanup() {
  [[ -n "$mock_pid" ]] && kill "$mock_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# --- the mock -------------------------------------------------------------------------------
"$mock_bin" --latency-ms 200 >"$work/mock.out" &
mock_pid=$!
for _ in $(seq 1 200); do
  grep -q '^listening on ' "$work/mock.out" 2>/dev/null && break
  sleep 0.05
done
url="$(sed -n 's/^listening on //p' "$work/mock.out")"
[[ -n "$url" ]] || { echo "error: the mock server did not start" >&2; exit 1; }

# --- the project ----------------------------------------------------------------------------
proj="$work/project"
mkdir -p "$proj/workers" "$proj/scripts"
cat >"$proj/llm-do.toml" <<TOML
[limits]
max_parallel = 100
[providers.mock]
base_url = "$url/v1"
wire = "openai"
TOML
printf -- '---\nmodel: mock:m\n---\nEcho.\n' >"$proj/workers/echo.worker"
printf -- '---\nmodel: mock:m\ntoolsets: [noop]\nmax_turns: 1001\n---\nLoop.\n' >"$proj/workers/looper.worker"
printf '/// Do nothing.\nfn noop() { 1 }\n' >"$proj/scripts/lib.rhai"
cat >"$proj/seq.rhai" <<'RHAI'
let n = 0;
for i in 0..100 { call("echo", "delay_ms=20 seq " + i); n += 1; }
n
RHAI
cat >"$proj/conc.rhai" <<'RHAI'
let items = [];
for i in 0..100 { items.push(["echo", "delay_ms=200 conc " + i]); }
call_all(items).len()
RHAI
cd "$proj"

# --- measuring ------------------------------------------------------------------------------
now_ns() { date +%s%N; }
# Mean wall time in ms of N runs of a command (output discarded).
mean_ms() {
  local n=$1; shift
  local t0 t1
  t0=$(now_ns)
  for _ in $(seq 1 "$n"); do "$@" >/dev/null 2>&1; done
  t1=$(now_ns)
  num "$(echo "scale=2; ($t1 - $t0) / $n / 1000000" | bc)"
}
# Wall ms and peak RSS (MB) of one run.
once() {
  local t0 t1 rss
  t0=$(now_ns)
  /usr/bin/time -f '%M' -o "$work/rss" "$@" >"$work/out" 2>"$work/err" || {
    echo "error: \`$*\` failed:" >&2; cat "$work/err" >&2; exit 1; }
  t1=$(now_ns)
  rss=$(tail -n1 "$work/rss")
  echo "$(num "$(echo "scale=1; ($t1 - $t0) / 1000000" | bc)") $(num "$(echo "scale=1; $rss / 1024" | bc)")"
}
ratio() { num "$(echo "scale=2; $1 / $2" | bc)"; }
# bc prints `.39`; tables want `0.39`.
num() { printf '%.2f' "$1"; }

spawn=$(mean_ms 50 true)
help=$(mean_ms 50 "$bin" --help)
check=$(mean_ms 50 "$bin" check)
floor=$(curl -s -o /dev/null -w '%{time_total}' -H 'content-type: application/json' \
  -d '{"model":"m","messages":[{"role":"user","content":"delay_ms=200 floor"}]}' "$url/v1/chat/completions")
floor=$(num "$(echo "scale=1; $floor * 1000" | bc)")

read -r one one_rss < <(once "$bin" run echo "delay_ms=200 one")
read -r loop loop_rss < <(once "$bin" run looper "tools=1000 delay_ms=1 loop")
read -r seq _ < <(once "$bin" seq.rhai)
read -r conc conc_rss < <(once "$bin" conc.rhai)
grep -qx 100 "$work/out" || { echo "error: conc.rhai did not return 100" >&2; exit 1; }
help_rss=$(once "$bin" --help | cut -d' ' -f2)

ideal_one=$(echo "200 + $spawn" | bc)
ideal_loop=$(echo "1001 * 1 + $spawn" | bc)
ideal_seq=$(echo "100 * 20 + $spawn" | bc)
ideal_conc=$(echo "200 + $spawn" | bc)
per_trip=$(num "$(echo "scale=3; ($loop - $ideal_loop) / 1001" | bc)")
per_seq=$(num "$(echo "scale=3; ($seq - $ideal_seq) / 100" | bc)")

cat <<TABLE
| scenario | measured | ideal (floor) | ratio | target (DESIGN §13) |
|---|---|---|---|---|
| spawn \`true\` (process floor) | ${spawn} ms | - | - | - |
| mock round trip, curl, 200 ms latency | ${floor} ms | 200 ms | $(ratio "$floor" 200) | - |
| \`llm-do --help\` (mean of 50) | ${help} ms | ${spawn} ms | $(ratio "$help" "$spawn") | < 10 ms |
| \`llm-do check\` (mean of 50) | ${check} ms | ${spawn} ms | $(ratio "$check" "$spawn") | < 10 ms |
| one worker call, 200 ms latency | ${one} ms | ${ideal_one} ms | $(ratio "$one" "$ideal_one") | overhead < 1 ms per round trip |
| tool loop, 1,000 calls, 1 ms latency | ${loop} ms | ${ideal_loop} ms | $(ratio "$loop" "$ideal_loop") | ${per_trip} ms overhead per round trip (< 1 ms) |
| 100 sequential worker calls, 20 ms latency | ${seq} ms | ${ideal_seq} ms | $(ratio "$seq" "$ideal_seq") | ${per_seq} ms overhead per call (< 1 ms) |
| 100 concurrent worker calls, 200 ms latency | ${conc} ms | ${ideal_conc} ms | $(ratio "$conc" "$ideal_conc") | within 10% of 0.2 s |
| peak RSS, 100 calls in flight | ${conc_rss} MB | - | - | < 30 MB |
| peak RSS, \`--help\` / one call / tool loop | ${help_rss} / ${one_rss} / ${loop_rss} MB | - | - | - |
TABLE
echo
echo "mock: $(curl -s "$url/stats")"
