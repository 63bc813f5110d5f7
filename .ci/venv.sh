# Sourced by the tiers that need Python packages (the MCP SDK, Datasette, Phoenix and Ray tiers).
#
# cached_venv NAME PACKAGE==VERSION [VENV]: prints the path of a venv holding that one pinned
# package, created once per version and Python under ~/.cache/llm-do/NAME-VERSION-pyXY (or at
# VENV), marked complete only after pip succeeded; two runs at once build it once. Uses
# $PYTHON (default python3). Progress goes to stderr.
cached_venv() {
  local name=$1 spec=$2 venv=${3:-} python=${PYTHON:-python3} pyver
  pyver=$("$python" -c 'import sys; print(f"py{sys.version_info[0]}{sys.version_info[1]}")')
  venv=${venv:-${XDG_CACHE_HOME:-$HOME/.cache}/llm-do/$name-${spec#*==}-$pyver}
  mkdir -p "$(dirname "$venv")"
  # Called as `venv=$(cached_venv ...)`, where `set -e` does not apply: every step is chained,
  # so a failed pip leaves the venv unmarked and the call fails.
  (
    if command -v flock >/dev/null; then flock 9; fi
    [ -f "$venv/.complete" ] && exit 0
    echo "$name: creating $venv ($spec)" >&2
    rm -rf "$venv" &&
      "$python" -m venv "$venv" >&2 &&
      "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$spec" >&2 &&
      touch "$venv/.complete"
  ) 9>"$venv.lock" || return 1
  echo "$venv"
}
