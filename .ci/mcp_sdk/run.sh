#!/usr/bin/env bash
# `llm-do mcp serve` against the official MCP Python SDK: a pinned `mcp` from PyPI in a cached
# venv (created once per version and Python, marked complete only after pip succeeded), then
# check.py (over stdio and over `--http`: tools/list, a fn, a worker with structured output, a
# switch name, a tool error, a cancellation that stops a shell child, progress,
# tools/list_changed after an edit, approvals accepted,
# declined and denied). Exits non-zero when any step fails.
#
# Environment: LLM_DO_BIN (default target/debug/llm-do), LLM_DO_MCP_VENV (default under
# ~/.cache/llm-do), PYTHON.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mcp_version=2.3.0
python=${PYTHON:-python3}
bin=${LLM_DO_BIN:-$here/../../target/debug/llm-do}

die() { echo "mcp_sdk/run.sh: error: $*" >&2; exit 1; }
[ -x "$bin" ] || die "no llm-do binary at $bin (set LLM_DO_BIN)"
command -v "$python" >/dev/null || die "no $python (set PYTHON to a Python 3.10+ with venv)"

# shellcheck source=../venv.sh
. "$here/../venv.sh"
venv=$(cached_venv mcp "mcp==$mcp_version" "${LLM_DO_MCP_VENV:-}")
"$venv/bin/python" "$here/check.py" "$bin"
