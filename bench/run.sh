#!/usr/bin/env bash
# End-to-end benchmark harness (DESIGN §13). Builds release, starts the mock model server
# (examples/mock_server.rs), runs each scenario against a throwaway project and prints
# markdown tables. Every wall time is shown beside llm-do's own time:
#   - its CPU (user + system of the process, from getrusage in bench/proc.py), and
#   - its wall time minus the floor a plain client (bench/floor.py: keep-alive HTTP, each
#     message's JSON kept and joined) gets from the same mock for the same requests, measured
#     in the same run,
# so that the mock's own work (parsing the resent conversation, its threads) is not counted
# as llm-do's.
#
#   bench/run.sh                       # build, run, print the tables
#   SKIP_BUILD=1 bench/run.sh
#   BASE_BIN=/path/to/old/llm-do bench/run.sh
#       # also run an earlier binary, interleaved with this one, and print before/after
#       # ratios measured in the same run
#   PY_LLM_DO=/path/to/python/llm-do bench/run.sh
#       # also time the Python original (when installed) on the scenarios it can run
#   RUNS=5 bench/run.sh                # repetitions of the long scenarios (default 3)
#   LOG_ROUNDS=600 bench/run.sh        # rounds of the run log's per-run pairs (default 300)
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
target="${CARGO_TARGET_DIR:-$repo/target}"
if [[ -z "${SKIP_BUILD:-}" ]]; then
  cargo build --release --bin llm-do --example mock_server >&2
fi
bin="$target/release/llm-do"
mock_bin="$target/release/examples/mock_server"
base="${BASE_BIN:-}"
py="${PY_LLM_DO:-}"
runs="${RUNS:-3}"
floor_py="$repo/bench/floor.py"
proc_py="$repo/bench/proc.py"
work="$(mktemp -d)"
mock_pid=""
cleanup() {
  [[ -n "$mock_pid" ]] && kill "$mock_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
# Every binary runs from a copy in the same folder: the same binary runs 10-20% slower from
# where the linker wrote it than from a copy (its page cache differs), which would skew
# before/after figures.
cp "$bin" "$work/llm-do.new" && bin="$work/llm-do.new"
if [[ -n "$base" ]]; then cp "$base" "$work/llm-do.base" && base="$work/llm-do.base"; fi

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
cat >"$proj/ten.rhai" <<'RHAI'
for i in 0..10 { call("looper", "tools=100 delay_ms=1 ten " + i); }
10
RHAI
cd "$proj"

# --- measuring ------------------------------------------------------------------------------
now_ns() { date +%s%N; }
num() { printf '%.2f' "$1"; }
calc() { num "$(echo "scale=4; $1" | bc)"; }
# One run: "WALL_MS CPU_MS RSS_MB" (CPU = user + system of the process and its children,
# from getrusage in bench/proc.py: microseconds, where /usr/bin/time rounds to 10 ms).
once() {
  PROC_OUT="$work/out" PROC_ERR="$work/err" python3 "$proc_py" "$@" || {
    echo "error: \`$*\` failed:" >&2; cat "$work/err" >&2; exit 1; }
}
median() { sort -g | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
# `measure KEY N CMD...`: N runs; medians of wall, CPU and RSS in $work/KEY.{wall,cpu,rss}.
measure() {
  local key=$1 n=$2; shift 2
  for _ in $(seq 1 "$n"); do once "$@"; done >"$work/$key.raw"
  for i in 1 2 3; do
    local f; f=$(sed -n "${i}p" <<<$'wall\ncpu\nrss')
    awk -v c="$i" '{print $c}' "$work/$key.raw" | median >"$work/$key.$f"
  done
}
get() { num "$(cat "$work/$1.$2")"; }
# The plain client's wall ms (median of N).
floor() {
  local n=$1; shift
  for _ in $(seq 1 "$n"); do python3 "$floor_py" "$url" "$@"; done | median
}

bins=(new)
[[ -n "$base" ]] && bins=(base new)
binpath() { if [[ $1 == base ]]; then echo "$base"; else echo "$bin"; fi; }
# The binaries of round N, in alternating order: the second of a pair runs a little slower.
order() { if (( $1 % 2 )); then echo "${bins[@]}"; else printf '%s\n' "${bins[@]}" | tac | xargs; fi; }

# Each scenario runs every binary, interleaved round by round (same machine state).
scenario() {
  local key=$1 n=$2; shift 2
  for round in $(seq 1 "$n"); do
    for b in $(order "$round"); do
      once "$(binpath "$b")" "$@" >>"$work/$key.$b.raw"
    done
  done
  for b in "${bins[@]}"; do
    for i in 1 2 3; do
      local f; f=$(sed -n "${i}p" <<<$'wall\ncpu\nrss')
      awk -v c="$i" '{print $c}' "$work/$key.$b.raw" | median >"$work/$key.$b.$f"
    done
  done
}

spawn_wall=$(for _ in $(seq 1 30); do once true; done | awk '{print $1}' | median)
scenario help 60 --help
scenario check 60 check
scenario one 5 run echo "delay_ms=200 one"
scenario loop "$runs" run looper "tools=1000 delay_ms=1 loop"
scenario ten "$runs" ten.rhai
scenario seq "$runs" seq.rhai
scenario conc "$runs" conc.rhai
grep -qx 100 "$work/out" || { echo "error: conc.rhai did not return 100" >&2; exit 1; }
scenario loopnolog "$runs" run --no-log looper "tools=1000 delay_ms=1 loop"
# The log's cost per run: one short run (the `test` model: no network) with the log and
# without, every binary in each round, in a random order (bench/logpair.py).
pairs=()
for b in "${bins[@]}"; do pairs+=("$b=$(binpath "$b")"); done
python3 "$repo/bench/logpair.py" "${LOG_ROUNDS:-300}" "$work" "${pairs[@]}" -- run --model test echo log

floor_one=$(floor 5 one 200)
floor_loop=$(floor "$runs" loop 1000 1)
floor_ten=$(for _ in $(seq 1 "$runs"); do
  t=0; for i in $(seq 1 10); do t=$(echo "$t + $(python3 "$floor_py" "$url" loop 100 1)" | bc); done; echo "$t"
done | median)
floor_seq=$(floor "$runs" seq 100 20)
floor_conc=$(floor "$runs" conc 100 200)

v() { get "$1.$2" "$3"; }
own() { calc "$(cat "$work/$1.$2.wall") - $3"; }
row() { # name key floor target
  local name=$1 key=$2 fl=$3 target=$4
  for b in "${bins[@]}"; do
    printf '| %s | %s | %s ms | %s ms | %s ms | %s ms | %s MB | %s |\n' "$name" "$b" \
      "$(v "$key" "$b" wall)" "$fl" "$(own "$key" "$b" "$fl")" "$(v "$key" "$b" cpu)" \
      "$(v "$key" "$b" rss)" "$target"
  done
}

echo "Machine load at the end: $(cut -d' ' -f1-3 /proc/loadavg); spawn \`true\`: $(num "$spawn_wall") ms"
echo
echo "| scenario | binary | wall (median) | plain client's floor | llm-do's own wall (wall - floor) | llm-do's own CPU | peak RSS | target |"
echo "|---|---|---|---|---|---|---|---|"
row '`llm-do --help`' help "$spawn_wall" '< 10 ms'
row '`llm-do check`' check "$spawn_wall" '< 5 ms (aim 3)'
row 'one worker call, 200 ms latency' one "$floor_one" '< 1 ms per round trip'
row 'tool loop, 1,000 calls, 1 ms latency' loop "$floor_loop" 'own CPU < 0.5 ms per round trip (aim 0.25)'
row 'ten tool loops of 100 calls, one process' ten "$floor_ten" '-'
row 'tool loop, 1,000 calls, `--no-log`' loopnolog "$floor_loop" '-'
row '100 sequential worker calls, 20 ms latency' seq "$floor_seq" '< 1 ms per call'
row '100 concurrent worker calls, 200 ms latency' conc "$floor_conc" 'within 1.1x of the floor; < 30 MB'

echo
echo "| derived figure | binary | value | target |"
echo "|---|---|---|---|"
for b in "${bins[@]}"; do
  lc=$(cat "$work/loop.$b.cpu"); tc=$(cat "$work/ten.$b.cpu"); nc=$(cat "$work/loopnolog.$b.cpu")
  lw=$(cat "$work/loop.$b.wall"); nw=$(cat "$work/loopnolog.$b.wall")
  echo "| own CPU per round trip, 1,000-call loop | $b | $(calc "$lc / 1001") ms | < 0.5 ms (aim 0.25) |"
  echo "| own CPU per round trip, 1,000-call loop, \`--no-log\` | $b | $(calc "$nc / 1001") ms | - |"
  echo "| own CPU, 1,000-call loop / ten 100-call loops | $b | $(calc "$lc / $tc") | <= 1.5 (aim 1.2) |"
  echo "| own wall per round trip, 1,000-call loop (wall - floor) / 1001 | $b | $(calc "($lw - $floor_loop) / 1001") ms | - |"
  echo "| 100 concurrent: wall / plain client's floor | $b | $(calc "$(cat "$work/conc.$b.wall") / $floor_conc") | <= 1.1 |"
  echo "| run log, share of a 1,000-call loop (CPU, log on vs \`--no-log\`) | $b | $(calc "100 * ($lc - $nc) / $nc") % | < 2 % |"
  echo "| run log, share of a 1,000-call loop (wall) | $b | $(calc "100 * ($lw - $nw) / $nw") % | < 2 % |"
  echo "| run log per run (test model, log on - off, median of ${LOG_ROUNDS:-300} shuffled rounds): wall | $b | $(get "logpair.$b" wall) ms (90%: $(get "logpair.$b" lo)-$(get "logpair.$b" hi)) | < 0.5 ms |"
  echo "| run log per run (same rounds): CPU | $b | $(get "logpair.$b" cpu) ms | - |"
done
if [[ -n "$base" ]]; then
  echo
  echo "| figure | before | after | after / before |"
  echo "|---|---|---|---|"
  for key in help check one loop ten loopnolog seq conc; do
    for f in wall cpu; do
      b0=$(cat "$work/$key.base.$f"); b1=$(cat "$work/$key.new.$f")
      echo "| $key $f | $(num "$b0") ms | $(num "$b1") ms | $(calc "$b1 / $b0") |"
    done
  done
fi
if [[ -n "$py" ]]; then
  echo
  echo "| scenario (Python original) | wall | CPU | peak RSS |"
  echo "|---|---|---|---|"
  measure py_help 5 "$py" --help
  measure py_one 3 "$py" run echo "delay_ms=200 one"
  echo "| \`--help\` | $(get py_help wall) ms | $(get py_help cpu) ms | $(get py_help rss) MB |"
  echo "| one worker call, 200 ms latency | $(get py_one wall) ms | $(get py_one cpu) ms | $(get py_one rss) MB |"
else
  echo
  echo "(the Python original is not installed here: set PY_LLM_DO to its command to compare)"
fi
echo
echo "mock: $(curl -s "$url/stats")"
