#!/usr/bin/env python3
"""Check a merged Ray batch against its inputs; exit 1 at the first broken promise.

    python check.py INPUTS OUT_DIR [--reference REF.jsonl] [--expect-retry SHARD] [--expect-resumed]

- OUT_DIR/merged.jsonl: every line whole JSON; one line per non-blank input line, in input
  order (`line` strictly increasing), none missing, none twice; each echoes its input and has
  exactly one of `output` and `error`; an input that is not JSON came back as an error line.
  A failed call (an error line for a JSON input) fails the check unless --allow-call-errors.
- --reference: the same lines as REF (the output of one `llm-do batch` over all of INPUTS; only
  meaningful with a deterministic model such as `test`).
- OUT_DIR/logs.jsonl: one row per (run, id), each run in one shard only, the runs summary.json
  lists.
- --expect-retry SHARD: SHARD's first attempt was killed mid-batch, Ray retried it, and the
  retry skipped exactly the whole lines the killed attempt had written.
- --expect-resumed: a second job over the same shard folders ran nothing: every input skipped.
"""

import argparse
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from job import input_lines  # noqa: E402  (the same numbering as llm-do batch)


def fail(message):
    print(f"check failed: {message}", file=sys.stderr)
    sys.exit(1)


def read_jsonl(path):
    out = []
    with open(path, encoding="utf-8") as f:
        for i, text in enumerate(f, start=1):
            if not text.endswith("\n"):
                fail(f"{path}:{i}: a cut-off last line")
            try:
                out.append(json.loads(text))
            except json.JSONDecodeError as e:
                fail(f"{path}:{i}: not whole JSON: {e}")
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("inputs")
    p.add_argument("out_dir")
    p.add_argument("--reference")
    p.add_argument("--expect-retry", type=int, metavar="SHARD")
    p.add_argument("--expect-resumed", action="store_true")
    p.add_argument(
        "--allow-call-errors",
        action="store_true",
        help="accept error lines for inputs that are JSON (failed calls); by default only an "
        "input that is not JSON may come back as an error",
    )
    args = p.parse_args()

    inputs = input_lines(args.inputs)
    merged = read_jsonl(os.path.join(args.out_dir, "merged.jsonl"))
    with open(os.path.join(args.out_dir, "summary.json")) as f:
        summary = json.load(f)

    numbers = [r.get("line") for r in merged]
    if not all(isinstance(n, int) for n in numbers):
        fail("a merged line without an integer `line`")
    if any(a >= b for a, b in zip(numbers, numbers[1:])):
        fail("merged lines are not in input order (or a line came back twice)")
    expected = [n for n, _ in inputs]
    if numbers != expected:
        missing = sorted(set(expected) - set(numbers))
        unknown = sorted(set(numbers) - set(expected))
        fail(f"inputs missing: {missing[:20]}; lines that are no input: {unknown[:20]}")
    malformed = 0
    for (n, text), record in zip(inputs, merged):
        try:
            value, is_json = json.loads(text), True
        except json.JSONDecodeError:
            value, is_json = text, False
            malformed += 1
            if "not valid JSON" not in str(record.get("error")):
                fail(f"line {n} is not JSON but came back without its error: {record}")
        if record.get("input") != value:
            fail(f"line {n} came back with another input: {record.get('input')!r}")
        if ("output" in record) == ("error" in record):
            fail(f"line {n} has not exactly one of `output` and `error`: {record}")
        if "error" in record and is_json and not args.allow_call_errors:
            fail(f"line {n}: the call failed: {record['error']} (--allow-call-errors to accept)")
    print(f"ok: {len(merged)} inputs came back exactly once, in input order "
          f"({sum('error' in r for r in merged)} error lines, {malformed} of them not JSON)")

    # A line names the run that wrote it (`run`, when the run log is on): the one-machine
    # reference is another run, so lines are compared without it.
    def without_run(records):
        return [{k: v for k, v in r.items() if k != "run"} for r in records]

    if args.reference:
        reference = without_run(read_jsonl(args.reference))
        merged_lines = without_run(merged)
        if reference != merged_lines:
            diff = next(
                (i for i, (a, b) in enumerate(zip(reference, merged_lines)) if a != b),
                min(len(reference), len(merged_lines)),
            )
            fail(f"differs from the one-machine batch {args.reference} at its line {diff + 1}")
        print(f"ok: the same {len(merged)} lines as one `llm-do batch` over the whole input")

    rows = read_jsonl(os.path.join(args.out_dir, "logs.jsonl"))
    keys = [(r["run"], r["id"]) for r in rows]
    if len(set(keys)) != len(keys):
        fail("a (run, id) twice in logs.jsonl")
    shard_of = {}
    for r in rows:
        if shard_of.setdefault(r["run"], r["shard"]) != r["shard"]:
            fail(f"run {r['run']} appears in shards {shard_of[r['run']]} and {r['shard']}")
    listed = {run: s["shard"] for s in summary["shards"] for run in s["runs"]}
    if listed != shard_of:
        fail("summary.json's runs per shard differ from logs.jsonl")
    print(f"ok: {len(rows)} logged calls in {len(shard_of)} runs, each run in one shard")
    named = {r["run"] for r in merged if "run" in r}
    # A run id: 32 hex digits (a UUID v7, docs/log-schema.md).
    if not all(re.fullmatch(r"[0-9a-f]{32}", run) for run in named):
        fail(f"a line names a run that is not a run id: {sorted(named)}")
    # A killed attempt's runs may have no calls in the log yet; every other run a line names
    # logged calls.
    print(f"ok: lines name the {len(named)} runs that wrote them, "
          f"{len(named & set(shard_of))} of them with logged calls")

    shards = {s["shard"]: s for s in summary["shards"]}
    for s in shards.values():
        t = s["summary"]
        if t["inputs"] != s["inputs"] or t["done"] + t["errors"] + t["skipped"] != s["inputs"]:
            fail(f"shard {s['shard']}: its batch summary {t} does not add up to {s['inputs']}")
    if args.expect_retry is not None:
        s = shards.get(args.expect_retry)
        if s is None:
            fail(f"no shard {args.expect_retry}")
        killed = s["killed"]
        if s["attempts"] < 2 or not killed:
            fail(f"shard {args.expect_retry} was not killed and retried: {s}")
        if s["summary"]["skipped"] != killed["whole_lines"]:
            fail(
                f"shard {args.expect_retry}: the killed attempt left {killed['whole_lines']} "
                f"whole lines but the retry skipped {s['summary']['skipped']}"
            )
        print(
            f"ok: shard {args.expect_retry} was killed after {killed['whole_lines']} of "
            f"{s['inputs']} lines (SIGKILL), retried by Ray (attempt {s['attempts']}), and "
            f"resumed: skipped those {killed['whole_lines']}, ran {s['summary']['done']} "
            f"+ {s['summary']['errors']} error lines, no line twice"
        )
    if args.expect_resumed:
        for s in shards.values():
            t = s["summary"]
            if t["skipped"] != s["inputs"] or t["done"] or t["errors"]:
                fail(f"shard {s['shard']} ran inputs again on a rerun: {t}")
        print(f"ok: rerun over the same shard folders skipped all {summary['inputs']} inputs")


if __name__ == "__main__":
    main()
