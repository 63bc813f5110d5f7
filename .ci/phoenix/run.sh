#!/usr/bin/env bash
# The Phoenix tier (docs/observability.md): the real binary exports a run's spans over OTLP to
# a local Arize Phoenix, and they are read back through Phoenix's REST API.
#   1. a venv with arize-phoenix==$version, cached and reused (PyPI the first time);
#   2. `phoenix serve` on 127.0.0.1 and free ports, its database in a temp folder, stopped on
#      every exit;
#   3. a project in a temp folder: a script calling a worker (`test` model) that calls a fn
#      tool, run with OTEL_EXPORTER_OTLP_ENDPOINT pointing at Phoenix;
#   4. check.py reads the spans of the Phoenix project back: the tree, the model, the token
#      counts (against `llm-do logs --json` of the same run).
#
# Environment: LLM_DO_BIN (default target/debug/llm-do), LLM_DO_PHOENIX_VENV (default under
# ~/.cache/llm-do), PYTHON. Exits non-zero when any step fails.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
version=20.26.1
die() { echo "phoenix tier: error: $*" >&2; exit 1; }

bin=${LLM_DO_BIN:-$here/../../target/debug/llm-do}
[ -x "$bin" ] || die "no llm-do binary at $bin (set LLM_DO_BIN)"
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")

# shellcheck source=../venv.sh
. "$here/../venv.sh"
venv=$(cached_venv phoenix "arize-phoenix==$version" "${LLM_DO_PHOENIX_VENV:-}") ||
  die "cannot install arize-phoenix==$version"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/llm-do-phoenix.XXXXXX")
server=
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
  "$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
port=$(free_port)
grpc_port=$(free_port)
mkdir -p "$tmp/phoenix"
PHOENIX_HOST=127.0.0.1 PHOENIX_PORT=$port PHOENIX_GRPC_PORT=$grpc_port \
  PHOENIX_WORKING_DIR=$tmp/phoenix PHOENIX_TELEMETRY_ENABLED=false \
  "$venv/bin/phoenix" serve > "$tmp/phoenix.log" 2>&1 &
server=$!
url=http://127.0.0.1:$port
"$venv/bin/python" - "$url" <<'PY' || { cat "$tmp/phoenix.log" >&2; die "Phoenix did not start"; }
import sys, time, urllib.request
deadline = time.time() + 180
while True:
    try:
        with urllib.request.urlopen(sys.argv[1] + "/healthz", timeout=2) as r:
            if r.status == 200:
                break
    except OSError:
        pass
    if time.time() > deadline:
        sys.exit(1)
    time.sleep(0.5)
PY

project=$tmp/project
mkdir -p "$project/workers" "$project/scripts"
printf -- '---\nmodel: test\ntoolsets: [shout]\n---\nShout it.\n' > "$project/workers/shouter.worker"
printf '/// text: string\nfn shout(text) { text.to_upper() }\n' > "$project/scripts/lib.rhai"
printf 'call("shouter", "hello phoenix")\n' > "$project/main.rhai"
: > "$project/llm-do.toml"
(
  cd "$project"
  out=$(OTEL_EXPORTER_OTLP_ENDPOINT=$url \
    OTEL_RESOURCE_ATTRIBUTES=openinference.project.name=llm-do-tier \
    "$bin" main.rhai)
  [ "$out" = "HELLO PHOENIX" ] || die "the script printed '$out'"
  "$bin" logs --json -n 10 > "$tmp/calls.json"
)
"$venv/bin/python" "$here/check.py" "$url" llm-do-tier "$tmp/calls.json" ||
  { cat "$tmp/phoenix.log" >&2; exit 1; }
echo "phoenix tier: ok (arize-phoenix $version received and served the run's spans)"
