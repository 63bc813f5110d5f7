#!/usr/bin/env bash
# The Ray example end to end, on a local Ray cluster of this machine (see README.md):
#   1. a venv with a pinned Ray, cached and reused;
#   2. `ray start --head` (2 CPUs, no dashboard, free ports, its own temp dir);
#   3. job.py shards inputs.jsonl over Ray tasks running `llm-do batch`; shard 1's first attempt
#      is killed mid-batch, Ray retries it, and the retry resumes;
#   4. check.py: every input came back exactly once, in order (and, with the `test` model, the
#      same lines as one `llm-do batch` over the whole file); the logs merged by run id;
#   5. the job again over the same shard folders: nothing runs twice;
# and stops the cluster on every exit. Exits non-zero when any step fails.
#
# With LLM_DO_WHEEL=PATH (an `llm_do` wheel), steps 3-5 are replaced by the package variant
# (package_job.py: tasks import the Python package instead of running the binary).
#
# Environment: LLM_DO_BIN (the binary to ship; default llm-do on PATH), LLM_DO_MODEL (default
# `test`, offline), LLM_DO_RAY_OUT (default ./out beside this script, cleared first),
# LLM_DO_RAY_SHARDS (default 4), LLM_DO_RAY_VENV (default under ~/.cache/llm-do), PYTHON.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ray_version=2.60.0
python=${PYTHON:-python3}
model=${LLM_DO_MODEL:-test}
out=${LLM_DO_RAY_OUT:-$here/out}
shards=${LLM_DO_RAY_SHARDS:-4}
project=$here/../../filename_cleaner
inputs=$here/inputs.jsonl

die() { echo "run.sh: error: $*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }

bin=${LLM_DO_BIN:-$(command -v llm-do || true)}
[ -n "$bin" ] && [ -x "$bin" ] ||
  die "no llm-do binary: set LLM_DO_BIN (e.g. target/release/llm-do) or put llm-do on PATH"
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
command -v "$python" >/dev/null ||
  die "no $python (set PYTHON to a Python 3 with venv that ray==$ray_version has wheels for)"

# 1. The venv: created once per Ray version and Python, marked complete only after pip succeeded,
#    so an interrupted install is redone rather than reused.
t=$(now)
# shellcheck source=../../../.ci/venv.sh
. "$here/../../../.ci/venv.sh"
venv=$(cached_venv ray "ray==$ray_version" "${LLM_DO_RAY_VENV:-}")
echo "run.sh: venv ready in $(since "$t"): $venv" >&2
py=$venv/bin/python

# 2. A local Ray cluster in its own session (setsid), so stopping it touches only its processes.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/llm-do-ray.XXXXXX")
ray_pid=
stop_cluster() {
  local status=$?
  if [ -n "$ray_pid" ]; then
    # `ray start --block` stops the processes it started on SIGTERM; whatever is left of the
    # session (workers) gets SIGKILL.
    kill -TERM "$ray_pid" 2>/dev/null || true
    for _ in $(seq 1 40); do pgrep -s "$ray_pid" >/dev/null || break; sleep 0.25; done
    pkill -KILL -s "$ray_pid" 2>/dev/null || true
    wait "$ray_pid" 2>/dev/null || true
    echo "run.sh: Ray cluster stopped" >&2
  fi
  if [ "$status" -ne 0 ] && [ -f "$tmp/ray-start.log" ]; then
    echo "run.sh: last lines of ray start's log:" >&2
    tail -n 20 "$tmp/ray-start.log" >&2 || true
  fi
  rm -rf "$tmp"
  exit "$status"
}
trap stop_cluster EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
  "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
port=$(free_port)
# Token auth: only holders of this run's random token can use the cluster.
export RAY_AUTH_MODE=token
RAY_AUTH_TOKEN=$("$py" -c 'import secrets; print(secrets.token_hex(32))')
export RAY_AUTH_TOKEN
t=$(now)
setsid "$venv/bin/ray" start --head --block \
  --port="$port" \
  --num-cpus=2 --object-store-memory=200000000 \
  --include-dashboard=false --dashboard-host=127.0.0.1 \
  --disable-usage-stats --temp-dir="$tmp/ray" \
  >"$tmp/ray-start.log" 2>&1 </dev/null &
ray_pid=$!
export RAY_ADDRESS=127.0.0.1:$port
until "$venv/bin/ray" status --address "$RAY_ADDRESS" 2>/dev/null | grep -q '2.0 CPU'; do
  kill -0 "$ray_pid" 2>/dev/null || die "ray start exited (see the log above)"
  awk -v a="$t" -v b="$(now)" 'BEGIN { exit !(b - a > 120) }' &&
    die "the Ray cluster did not come up in 120s"
  sleep 0.5
done
echo "run.sh: Ray cluster up at $RAY_ADDRESS in $(since "$t")" >&2

# The package variant (LLM_DO_WHEEL set): the same inputs through package_job.py, whose tasks
# import the `llm_do` wheel (installed with `pip --target` beside the cluster, not into the
# cached venv) instead of running the binary; compared line by line with one `llm-do batch`.
if [ -n "${LLM_DO_WHEEL:-}" ]; then
  "$py" -m pip install --quiet --disable-pip-version-check --target "$tmp/site" "$LLM_DO_WHEEL"
  rm -rf "$out"
  mkdir -p "$out"
  "$bin" batch filename_cleaner "$inputs" -o "$out/reference.jsonl" --project "$project" \
    --model "$model" --no-log -q || true
  t=$(now)
  PYTHONPATH=$tmp/site "$py" "$here/package_job.py" --input "$inputs" --project "$project" \
    --name filename_cleaner --model "$model" --shards "$shards" --out "$out/package.jsonl" \
    --reference "$out/reference.jsonl"
  echo "run.sh: package job done in $(since "$t")" >&2
  exit 0
fi

# 3. The job, from scratch; shard 1's first attempt is killed after its first output line.
rm -rf "$out"
mkdir -p "$out"
job=("$py" "$here/job.py" --input "$inputs" --project "$project" --name filename_cleaner
  --model "$model" --shards "$shards" --binary "$bin" --out-dir "$out")
t=$(now)
"${job[@]}" --kill-first-attempt 1
echo "run.sh: job done in $(since "$t")" >&2

# 4. The checks.
reference=()
if [ "$model" = test ]; then
  # The one-machine batch for comparison (the `test` model answers the same every time).
  "$bin" batch filename_cleaner "$inputs" -o "$out/reference.jsonl" --project "$project" \
    --model test --no-log -q
  reference=(--reference "$out/reference.jsonl")
fi
"$py" "$here/check.py" "$inputs" "$out" "${reference[@]}" --expect-retry 1

# 5. The same job again over the same shard folders: every shard resumes with nothing to do.
t=$(now)
"${job[@]}" --out-dir "$out/again" --workdir "$out/shards"
echo "run.sh: rerun done in $(since "$t")" >&2
"$py" "$here/check.py" "$inputs" "$out/again" "${reference[@]}" --expect-resumed
cmp -s "$out/merged.jsonl" "$out/again/merged.jsonl" || die "the rerun's merged output differs"
echo "run.sh: ok: the rerun gave the same merged.jsonl" >&2
