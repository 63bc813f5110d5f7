#!/usr/bin/env bash
# The Datasette tier (docs/log-schema.md): a run log written by the real binary is opened with
# a pinned Datasette, served on loopback, and its documented views are read through Datasette's
# JSON API and checked against what `llm-do logs --json` says of the same calls.
#   1. a venv with datasette==$version, cached and reused (PyPI the first time);
#   2. a project in a temp folder, three `test`-model calls in two runs and one failing fn call;
#   3. `datasette serve` on 127.0.0.1 and a free port, stopped on every exit;
#   4. check.py reads run_summary, call_list, cost_per_name_day and agreement_per_name_day.
#
# Environment: LLM_DO_BIN (default target/debug/llm-do), LLM_DO_DATASETTE_VENV (default under
# ~/.cache/llm-do), PYTHON. Exits non-zero when any step fails.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
version=0.65.5
python=${PYTHON:-python3}
die() { echo "datasette tier: error: $*" >&2; exit 1; }

bin=${LLM_DO_BIN:-$here/../../target/debug/llm-do}
[ -x "$bin" ] || die "no llm-do binary at $bin (set LLM_DO_BIN)"
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")

# shellcheck source=../../.ci/venv.sh
. "$here/../../.ci/venv.sh"
venv=$(cached_venv datasette "datasette==$version" "${LLM_DO_DATASETTE_VENV:-}")

tmp=$(mktemp -d "${TMPDIR:-/tmp}/llm-do-datasette.XXXXXX")
server=
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

project=$tmp/project
mkdir -p "$project/workers" "$project/scripts"
printf -- '---\nmodel: test\n---\nGreet.\n' > "$project/workers/greeter.worker"
printf 'fn boom() { throw "boom"; }\n' > "$project/scripts/lib.rhai"
: > "$project/llm-do.toml"
(
  cd "$project"
  "$bin" run greeter "Ada Lovelace" > /dev/null
  printf 'call("greeter", "Grace Hopper"); call("greeter", "Edsger Dijkstra");\n' > two.rhai
  "$bin" two.rhai > /dev/null
  "$bin" run boom > /dev/null 2>&1 && die "boom did not fail"
  "$bin" logs --json -n 100 > "$tmp/calls.json"
  "$bin" logs --runs --json -n 100 > "$tmp/runs.json"
)

port=$("$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$venv/bin/datasette" serve "$project/.llm-do/log.db" --host 127.0.0.1 --port "$port" \
  > "$tmp/datasette.log" 2>&1 &
server=$!
"$venv/bin/python" "$here/check.py" "http://127.0.0.1:$port/log" "$tmp/calls.json" "$tmp/runs.json" ||
  { cat "$tmp/datasette.log" >&2; exit 1; }
echo "datasette tier: ok (datasette $version read the documented views)"
