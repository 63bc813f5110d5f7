#!/usr/bin/env bash
# Python tier (issue 36): build the `llm_do` wheel with maturin (a pinned maturin in a cached
# venv), install it into a fresh venv with pytest, and run tests/python/ (the design's examples
# in Python against a small OpenAI-wire mock, asyncio at scale, exceptions, cancellation).
# Then install the same wheel with pip into another fresh venv with cargo and rustc off PATH,
# and import it and call a fn: the wheel needs no Rust toolchain. Last, the Ray example's
# package variant.
#   LLM_DO_PY_RELEASE=1 builds the wheel with --release (for the figure in docs/performance.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
. .ci/venv.sh
maturin_venv=$(cached_venv maturin maturin==1.16.0)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

release=()
if [ "${LLM_DO_PY_RELEASE:-}" = 1 ]; then release=(--release); fi
(cd python && "$maturin_venv/bin/maturin" build --quiet ${release[@]+"${release[@]}"} -o "$work/wheels")
wheel=$(ls "$work"/wheels/llm_do-*.whl)
echo "python tier: built $(basename "$wheel")" >&2

python=${PYTHON:-python3}
"$python" -m venv "$work/test"
"$work/test/bin/python" -m pip install --quiet --disable-pip-version-check "$wheel" pytest==9.2.0
(cd tests/python && "$work/test/bin/python" -m pytest -q -p no:cacheprovider "$@")

# The wheel alone, without a Rust toolchain: PATH keeps only directories holding neither
# cargo nor rustc.
path=""
IFS=: read -r -a dirs <<<"$PATH"
for d in "${dirs[@]}"; do
  if [ -n "$d" ] && [ ! -e "$d/cargo" ] && [ ! -e "$d/rustc" ]; then path=${path:+$path:}$d; fi
done
env -i HOME="$HOME" PATH="$path" bash -c '
  set -euo pipefail
  if command -v cargo >/dev/null || command -v rustc >/dev/null; then
    echo "error: a Rust toolchain is still on PATH" >&2; exit 1
  fi
  "$1" -m venv "$2/bare"
  "$2/bare/bin/python" -m pip install --quiet --disable-pip-version-check --no-index "$3"
  mkdir -p "$2/proj/workers"
  cd "$2/proj"
  "$2/bare/bin/python" - <<"PY"
import llm_do
p = llm_do.Project(".", model="test", log=False)
@p.fn
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b
assert p.call("add", {"a": 2, "b": 3}) == 5, "add"
print("python tier: the wheel installs and calls without a Rust toolchain")
PY
' _ "$(command -v "$python")" "$work" "$wheel"

# The Ray example's package variant (examples/distributed/ray/package_job.py): Ray tasks import
# this wheel instead of running the binary; compared with one `llm-do batch` of the debug
# binary `cargo test` built. Skipped with the Ray tier (LLM_DO_SKIP_RAY=1, never under CI=true).
if [ "${LLM_DO_SKIP_RAY:-}" = 1 ] && [ "${CI:-}" != true ]; then
  echo "note: the Ray package variant is skipped (LLM_DO_SKIP_RAY=1)" >&2
else
  bin=${CARGO_TARGET_DIR:-target}/debug/llm-do
  if [ ! -x "$bin" ]; then
    echo "error: the Ray package variant needs the debug binary $bin that cargo test builds" >&2
    exit 1
  fi
  LLM_DO_BIN=$bin LLM_DO_MODEL=test LLM_DO_WHEEL=$wheel LLM_DO_RAY_OUT=$work/ray \
    examples/distributed/ray/run.sh
fi
