#!/usr/bin/env bash
# Browser tier of `llm-do view`: Debian's headless Chromium renders the pages the binary serves
# for a run log it wrote, and the rendered DOM is checked: the runs page lists the runs, the link
# opens its call tree, and a hostile input (markup and a script a model could echo) is shown as
# text, never run. Then Debian's chromium-driver drives Chromium over WebDriver (webdriver.py,
# Selenium in a cached venv) as a person clicks: a run, its tree opened, the names page, the
# page of the `[stabilize]` switch `triage` with its agreement chart and a disputed input; every
# request the browser made went to the page's own server. Screenshots go to $LLM_DO_VIEW_SHOTS
# (default: a temp folder; docs/view-*.png were made this way). The page needs no network:
# Chromium starts with its background connections off, and the page loads nothing from elsewhere.
#   LLM_DO_BIN=target/debug/llm-do .ci/view/run.sh
set -euo pipefail
bin=$(realpath "${LLM_DO_BIN:?set LLM_DO_BIN to the llm-do binary}")
chromium=${LLM_DO_CHROMIUM:-/usr/bin/chromium}
chromedriver=${LLM_DO_CHROMEDRIVER:-/usr/bin/chromedriver}
if { [ ! -x "$chromium" ] || [ ! -x "$chromedriver" ]; } && [ -z "${LLM_DO_CHROMIUM:-}" ] &&
  command -v apt-get >/dev/null; then
  # A fresh machine: Debian's chromium and its WebDriver, as setup.sh installs its build tools.
  (apt-get update -qq && apt-get install -y -qq chromium chromium-driver) >/dev/null 2>&1 || true
fi
for need in "$chromium:chromium" "$chromedriver:chromium-driver"; do
  if [ ! -x "${need%%:*}" ]; then
    echo "error: the view browser tier needs ${need%%:*} (Debian package ${need##*:})" >&2
    exit 1
  fi
done
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../venv.sh
. "$here/../venv.sh"
venv=$(cached_venv view-selenium selenium==4.50.0) || {
  echo "error: the view browser tier cannot install selenium" >&2
  exit 1
}
dir=$(mktemp -d)
profile=$(mktemp -d)
driven=$(mktemp -d)
shots=${LLM_DO_VIEW_SHOTS:-$dir/shots}
mkdir -p "$shots"
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  rm -rf "$dir" "$profile" "$driven"
}
trap cleanup EXIT

fail() {
  echo "error: view browser tier: $1" >&2
  exit 1
}

mkdir -p "$dir/workers"
printf -- '---\nmodel: test\n---\nGreet.\n' >"$dir/workers/greeter.worker"
mkdir -p "$dir/scripts"
printf -- '/// a: integer\n/// b: integer\nfn add(a, b) { a + b }\n' >"$dir/scripts/lib.rhai"
# A `[stabilize]` switch in shadow: the worker (a script model) says `bug` unless a message has
# "idea", the fn `bug` for "crash", `feature` otherwise, and defers "???": per run of sort.rhai
# two agree, "slow page" is disputed, one is deferred. `test --repeat 2` logs the noise floor.
printf '[stabilize]\ntriage = "shadow"\n' >"$dir/llm-do.toml"
printf -- '---\nmodel: script:fake\ninput:\n  message: string\noutput:\n  category: string\n---\nClassify.\n' \
  >"$dir/workers/triage.worker"
printf 'fn fake(request) { let m = request.messages[0].text; if m.contains("idea") { #{output: #{category: "feature"}} } else { #{output: #{category: "bug"}} } }\n' \
  >"$dir/scripts/models.rhai"
printf '/// message: string\nfn triage(message) { if message == "???" { return defer(); } if message.contains("crash") { #{category: "bug"} } else { #{category: "feature"} } }\n' \
  >"$dir/scripts/triage.rhai"
printf 'for m in ["it crashes", "an idea", "slow page", "???"] { call("triage", #{message: m}); }\n' \
  >"$dir/sort.rhai"
mkdir -p "$dir/tests"
printf '{"input": {"message": "it crashes"}, "expected": {"category": "bug"}}\n{"input": {"message": "an idea"}, "expected": {"category": "feature"}}\n' \
  >"$dir/tests/triage.jsonl"
(cd "$dir" && "$bin" sort.rhai >/dev/null && "$bin" sort.rhai >/dev/null &&
  "$bin" test triage --repeat 2 >/dev/null)

hostile='<img src=x onerror="document.body.dataset.pwned=1"><script>document.title="pwned"</script>'
printf 'call("greeter", %s); call("add", #{a: 1, b: 2})\n' \
  "$(printf '%s' "$hostile" | python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()))')" \
  >"$dir/main.rhai"
(cd "$dir" && "$bin" main.rhai >/dev/null)

(cd "$dir" && exec "$bin" view --port 0 >"$dir/url") &
pid=$!
for _ in $(seq 100); do
  [ -s "$dir/url" ] && break
  sleep 0.1
done
url=$(head -n 1 "$dir/url")
case "$url" in
http://127.0.0.1:*/\?token=*) ;;
*) fail "no URL printed: '$url'" ;;
esac
base=${url%%/\?token=*}

chrome() {
  "$chromium" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$profile" "$@" 2>/dev/null
}

# The runs page: three runs, ended ok, the newest (the hostile greeting) first with a link.
dom=$(chrome --dump-dom "$url")
grep -q '<title>Runs · llm-do view</title>' <<<"$dom" || fail "runs page title: $dom"
[ "$(grep -o '<tr class="run">' <<<"$dom" | wc -l)" = 3 ] || fail "three run rows: $dom"
grep -q '<td class="status-ok">ok</td>' <<<"$dom" || fail "run status: $dom"
href=$(grep -o 'href="/run/[^"]*"' <<<"$dom" | head -n 1 | sed 's/^href="//; s/"$//; s/&amp;/\&/g')
[ -n "$href" ] || fail "no link to the run: $dom"
chrome --screenshot="$shots/view-runs.png" --window-size=1100,360 "$url" >/dev/null

# The run page: its call tree, the hostile input shown as text and never run.
dom=$(chrome --dump-dom "$base$href")
grep -q '<title>Run [0-9a-z]* · llm-do view</title>' <<<"$dom" || fail "run page title: $dom"
[ "$(grep -o '<details class="call"' <<<"$dom" | wc -l)" = 2 ] || fail "two calls: $dom"
grep -q 'data-pwned' <<<"$dom" && fail "the hostile onerror ran: $dom"
grep -q '<title>pwned' <<<"$dom" && fail "the hostile script ran: $dom"
grep -q '<script' <<<"$dom" && fail "a script element got into the page: $dom"
grep -q 'test reply: &lt;img src=x onerror=' <<<"$dom" || fail "the output shown as text: $dom"
chrome --screenshot="$shots/view-run.png" --window-size=1100,360 "$base$href" >/dev/null

# Without the token: refused, nothing of the log shown.
dom=$(chrome --dump-dom "$base/runs")
grep -q '<title>Forbidden · llm-do view</title>' <<<"$dom" || fail "no token, no page: $dom"
grep -q 'greeter' <<<"$dom" && fail "the refusal shows the log: $dom"

# WebDriver: clicked through as a person does (webdriver.py says what it checks).
LLM_DO_CHROMIUM=$chromium LLM_DO_CHROMEDRIVER=$chromedriver \
  "$venv/bin/python" "$here/webdriver.py" "$url" "$shots" "$driven" || fail "WebDriver part"
echo "view browser tier: ok${LLM_DO_VIEW_SHOTS:+ (screenshots in $shots)}"
