#!/usr/bin/env bash
# Per-request overhead of llm-do against a real llama.cpp `llama-server` (tiny random model),
# compared with curl sending the very same request body, in the same run (DESIGN §13, issue 12).
#
#   bench/real_llm.sh                 # starts the server with ../shared/real-llm/setup.sh
#   LLM_DO_REAL_LLM_URL=http://127.0.0.1:PORT/v1 bench/real_llm.sh   # use a running server
#   N=30 bench/real_llm.sh            # samples per side (default 20)
#
# Both sides include spawning a process; llm-do's side also includes start-up, project load and
# building its request. Generation is identical on both sides (same body, fixed seed).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
n=${N:-20}
bin="$repo/target/release/llm-do"
[[ -x "$bin" ]] || cargo build --release --bin llm-do --manifest-path "$repo/Cargo.toml" >&2
work="$(mktemp -d)"
pid=""
cleanup() { [[ -n "$pid" ]] && kill "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
url=${LLM_DO_REAL_LLM_URL:-}
if [[ -z "$url" ]]; then
  port=${LLM_DO_REAL_LLM_PORT:-18480}
  out=$("${LLM_DO_REAL_LLM_SETUP:-$repo/../shared/real-llm/setup.sh}" --serve "$port")
  pid=$(printf '%s\n' "$out" | sed -n 's/^PID=//p')
  url="http://127.0.0.1:$port/v1"
fi

mkdir -p "$work/workers"
printf '[providers.local]\nbase_url = "%s"\nwire = "openai"\n' "$url" >"$work/llm-do.toml"
printf -- '---\nmodel: local:tiny\nmax_tokens: 16\nseed: 11\ntemperature: 0\n---\nSay something.\n' >"$work/workers/plain.worker"
cd "$work"
# The exact body llm-do sends, from its -vvv HTTP log.
body=$("$bin" run plain hello -vvv 2>&1 >/dev/null | sed -n 's/^TRACE llm_do::http: POST [^ ]*: //p' | head -1)
[[ -n "$body" ]] || { echo "error: could not capture the request body" >&2; exit 1; }
printf '%s' "$body" >body.json

ms() { date +%s%N; }
curl_total=0; llm_total=0
"$bin" run plain hello >/dev/null   # warm the server's prompt cache for both sides
curl -sf "$url/chat/completions" -H 'content-type: application/json' --data-binary @body.json >/dev/null
for _ in $(seq "$n"); do
  t0=$(ms); curl -sf "$url/chat/completions" -H 'content-type: application/json' --data-binary @body.json >/dev/null; t1=$(ms)
  "$bin" run plain hello >/dev/null; t2=$(ms)
  curl_total=$((curl_total + t1 - t0)); llm_total=$((llm_total + t2 - t1))
done
python3 - "$n" "$curl_total" "$llm_total" <<'PY'
import sys
n, c, l = int(sys.argv[1]), int(sys.argv[2]) / 1e6, int(sys.argv[3]) / 1e6
cm, lm = c / n, l / n
print("| side | mean per request | ratio to curl |")
print("|---|---|---|")
print(f"| curl, same body | {cm:.1f} ms | 1.00 |")
print(f"| `llm-do run plain hello` | {lm:.1f} ms | {lm / cm:.2f} |")
print(f"\nllm-do overhead per request (process start, project load, request build, parse): {lm - cm:.1f} ms over {n} samples each")
PY
