"""Reads the run log's documented views through Datasette's JSON API and checks them against
`llm-do logs --json` and `llm-do logs --runs --json` (run.sh):

    check.py BASE_URL CALLS.json RUNS.json
"""

import json
import sys
import time
import urllib.error
import urllib.request


def get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.load(r)


def wait_ready(base):
    """Wait (at most 30 s) for the server to answer."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return get(base.rsplit("/", 1)[0] + "/-/versions.json")
        except (urllib.error.URLError, ConnectionError, OSError):
            if time.monotonic() > deadline:
                sys.exit("check.py: datasette did not answer in 30 s")
            time.sleep(0.2)


def rows(base, view, query=""):
    return get(f"{base}/{view}.json?_shape=array{query}")


def expect(what, got, want):
    if got != want:
        sys.exit(f"check.py: {what}: got {got!r}, want {want!r}")


def main():
    base, calls_file, runs_file = sys.argv[1:4]
    calls = json.load(open(calls_file))
    runs = json.load(open(runs_file))
    versions = wait_ready(base)
    print(f"check.py: datasette {versions['datasette']['version']}, sqlite {versions['sqlite']['version']}")

    # run_summary: one row per run, with its calls and tokens.
    summary = {r["id"]: r for r in rows(base, "run_summary", "&_size=max")}
    expect("runs", sorted(summary), sorted(r["id"] for r in runs))
    for run in runs:
        mine = [c for c in calls if c["run"] == run["id"]]
        row = summary[run["id"]]
        expect(f"run {run['id']} calls", row["calls"], run["calls"])
        expect(f"run {run['id']} status", row["status"], run["status"])
        expect(f"run {run['id']} errors", row["errors"], sum(1 for c in mine if c["error"]))
        expect(f"run {run['id']} tokens_out", row["tokens_out"], sum(c["tokens_out"] for c in mine))

    # call_list: every call, with `ok` and the day.
    listed = rows(base, "call_list", "&_size=max&_sort=time")
    expect("calls", len(listed), len(calls))
    by_key = {(c["run"], c["id"]): c for c in calls}
    for row in listed:
        mine = by_key[(row["run"], row["id"])]
        expect("call name", row["name"], mine["name"])
        expect("call ok", row["ok"], 0 if mine["error"] else 1)
        expect("call day", row["day"], mine["time"][:10])
        expect("call input", json.loads(row["input"]), mine["input"])

    # cost_per_name_day, filtered through the API like a person would.
    greeter = rows(base, "cost_per_name_day", "&name=greeter")
    worker = [c for c in calls if c["name"] == "greeter"]
    expect("greeter days", len(greeter), len({c["time"][:10] for c in worker}))
    expect("greeter calls", sum(r["calls"] for r in greeter), 3)
    expect("greeter tokens_in", sum(r["tokens_in"] for r in greeter), sum(c["tokens_in"] for c in worker))
    boom = rows(base, "cost_per_name_day", "&name=boom")
    expect("boom errors", [(r["calls"], r["errors"]) for r in boom], [(1, 1)])

    # agreement_per_name_day: readable, and empty without stabilize switches.
    expect("agreement rows", rows(base, "agreement_per_name_day"), [])
    print(f"check.py: ok ({len(listed)} calls in {len(runs)} runs)")


if __name__ == "__main__":
    main()
