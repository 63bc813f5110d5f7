#!/usr/bin/env python3
"""Shard a JSONL file over Ray tasks, each running `llm-do batch` on its shard, then merge.

    python job.py [--input inputs.jsonl] [--shards 4] [--out-dir out] [--model test] ...

Connects to the cluster that RAY_ADDRESS names (or starts a local one). The merged OUT has one
line per non-blank input line, in input order, with `line` the line number in INPUT: the same
lines `llm-do batch NAME INPUT -o OUT` gives on one machine. The run logs of all shards are
merged by run id into one JSONL of `llm-do logs --json` rows (plus `shard`). Exit status: 0 when
every shard finished and every input came back exactly once, 1 otherwise (a rerun with the same
--out-dir resumes each shard where it stopped). See README.md.
"""

import argparse
import collections
import json
import logging
import os
import shutil
import sys
import tempfile
import time

import ray

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import llm_do_shard  # noqa: E402  (shipped to the workers in the working_dir)

# Provider keys forwarded to the tasks when set here (see docs/providers.md); add more with --env.
PROVIDER_KEYS = ["ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "OPENAI_API_KEY", "OPENAI_BASE_URL"]


def input_lines(path):
    """(line number, text) of each non-blank line, numbered the way `llm-do batch` numbers them:
    split on \\n, a trailing \\r dropped, blank lines counted but skipped."""
    with open(path, encoding="utf-8", newline="") as f:
        text = f.read()
    parts = text.split("\n")
    if parts and parts[-1] == "":
        parts.pop()
    out = []
    for n, line in enumerate(parts, start=1):
        if line.endswith("\r"):
            line = line[:-1]
        if line.strip():
            out.append((n, line))
    return out


def shards_of(lines, count):
    """Contiguous shards of nearly equal size (none empty)."""
    count = max(1, min(count, len(lines)))
    size, extra = divmod(len(lines), count)
    out, start = [], 0
    for k in range(count):
        end = start + size + (1 if k < extra else 0)
        out.append(lines[start:end])
        start = end
    return out


def stage(args):
    """The working_dir shipped to every node: this module, the project, and the binary."""
    staging = tempfile.mkdtemp(prefix="llm-do-ray-stage-")
    shutil.copy2(os.path.join(HERE, "llm_do_shard.py"), staging)
    shutil.copytree(
        args.project,
        os.path.join(staging, "project"),
        ignore=shutil.ignore_patterns(".llm-do", "output", "traces", "__pycache__"),
    )
    if args.ship:
        os.makedirs(os.path.join(staging, "bin"))
        target = os.path.join(staging, "bin", "llm-do")
        try:
            os.link(args.binary, target)  # same filesystem: no copy
        except OSError:
            shutil.copy2(args.binary, target)
    return staging


def write_atomically(path, lines):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        for line in lines:
            f.write(line + "\n")
    os.replace(tmp, path)


def dumps(value):
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--input", default=os.path.join(HERE, "inputs.jsonl"), help="INPUTS (JSONL)")
    p.add_argument(
        "--project",
        default=os.path.join(HERE, "..", "..", "filename_cleaner"),
        help="the llm-do project each task runs (copied into the working_dir)",
    )
    p.add_argument("--name", default="filename_cleaner", help="worker or fn to run on each input")
    p.add_argument(
        "--model",
        default=os.environ.get("LLM_DO_MODEL"),
        help="--model for llm-do batch (default: $LLM_DO_MODEL, else the project's own)",
    )
    p.add_argument("--shards", type=int, default=4, help="number of Ray tasks (default 4)")
    p.add_argument(
        "--out-dir",
        default=os.path.join(HERE, "out"),
        help="merged.jsonl, logs.jsonl, summary.json; shards/ unless --workdir",
    )
    p.add_argument(
        "--workdir",
        help="where the shard folders live (default OUT_DIR/shards); every node must reach the "
        "same path, and a retry on another node resumes only on shared storage",
    )
    p.add_argument(
        "--binary",
        default=os.environ.get("LLM_DO_BIN") or shutil.which("llm-do"),
        help="the llm-do binary to ship (default: $LLM_DO_BIN, else llm-do on PATH)",
    )
    p.add_argument(
        "--no-ship",
        dest="ship",
        action="store_false",
        help="do not ship the binary; tasks run --binary or llm-do from each node's PATH",
    )
    p.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME",
        help="forward this environment variable to the tasks (provider keys are forwarded by "
        "default when set: " + ", ".join(PROVIDER_KEYS) + ")",
    )
    p.add_argument("--timeout", type=float, help="seconds per llm-do batch attempt")
    p.add_argument(
        "--kill-first-attempt",
        type=int,
        metavar="SHARD",
        help="demo: SIGKILL llm-do and the Ray worker in SHARD's first attempt, once it has "
        "written output; Ray retries the task and the retry resumes OUT",
    )
    args = p.parse_args()

    if args.ship and not (args.binary and os.path.isfile(args.binary)):
        p.error("no llm-do binary to ship: set LLM_DO_BIN or --binary, or use --no-ship")
    if args.binary:
        args.binary = os.path.abspath(args.binary)
    args.project = os.path.abspath(args.project)
    out_dir = os.path.abspath(args.out_dir)
    workdir = os.path.abspath(args.workdir or os.path.join(out_dir, "shards"))
    os.makedirs(workdir, exist_ok=True)

    lines = input_lines(args.input)
    if not lines:
        p.error(f"{args.input} has no inputs")
    shards = shards_of(lines, args.shards)

    env_vars = {k: os.environ[k] for k in PROVIDER_KEYS + args.env if k in os.environ}
    cfg = {
        "workdir": workdir,
        "name": args.name,
        "model": args.model,
        "binary": None if args.ship else args.binary,
        "timeout": args.timeout,
        "kill_first_attempt": args.kill_first_attempt,
    }

    if args.kill_first_attempt is not None:
        print(
            f"ray job: demo: shard {args.kill_first_attempt}'s first attempt will be killed "
            "mid-batch (Ray reports a dead worker, then retries the task)",
            file=sys.stderr,
        )
    # The binary is a large file on purpose; Ray's per-file size warning is noise here.
    logging.getLogger("ray._private.runtime_env.packaging").setLevel(logging.ERROR)
    started = time.monotonic()
    staging = stage(args)
    try:
        ray.init(
            runtime_env={"working_dir": staging, "env_vars": env_vars},
            logging_level="WARNING",
        )
        pending = {
            llm_do_shard.run_shard.remote(
                k, [n for n, _ in shard], [text for _, text in shard], cfg
            ): k
            for k, shard in enumerate(shards)
        }
        results, failed = [], []
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            k = pending.pop(ready[0])
            try:
                results.append(ray.get(ready[0]))
            except Exception as e:  # noqa: BLE001  (report every failed shard, then exit 1)
                failed.append((k, e))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    seconds = round(time.monotonic() - started, 2)

    if failed:
        for k, e in sorted(failed, key=lambda f: f[0]):
            print(f"error: shard {k} failed: {e}", file=sys.stderr)
        print(
            f"error: {len(failed)} of {len(shards)} shards failed; rerun with the same "
            f"--out-dir to resume them (finished lines are kept in {workdir})",
            file=sys.stderr,
        )
        return 1

    results.sort(key=lambda r: r["shard"])
    records = sorted((r for res in results for r in res["records"]), key=lambda r: r["line"])

    # Every input exactly once, or no merged file.
    expected = [n for n, _ in lines]
    got = [r["line"] for r in records]
    if got != expected:
        known = set(expected)
        missing = sorted(known - set(got))
        extra = sorted(n for n, c in collections.Counter(got).items() if c > 1 or n not in known)
        print(
            f"error: the shards' outputs do not cover the inputs exactly once: "
            f"missing lines {missing[:20]}, duplicate or unknown lines {extra[:20]}",
            file=sys.stderr,
        )
        return 1

    # Run logs: one row per (run, call id); a run belongs to the shard whose log it is in.
    calls, run_shard = {}, {}
    for res in results:
        for row in res["log_rows"]:
            key = (row["run"], row["id"])
            if key in calls:
                continue
            calls[key] = dict(row, shard=res["shard"])
            run_shard.setdefault(row["run"], res["shard"])
    merged_logs = sorted(calls.values(), key=lambda r: (r["time"], r["run"], r["id"]))

    out_path = os.path.join(out_dir, "merged.jsonl")
    logs_path = os.path.join(out_dir, "logs.jsonl")
    summary_path = os.path.join(out_dir, "summary.json")
    write_atomically(out_path, (dumps(r) for r in records))
    write_atomically(logs_path, (dumps(r) for r in merged_logs))
    summary = {
        "inputs": len(lines),
        "done": sum(res["summary"]["done"] for res in results),
        "errors": sum(1 for r in records if "error" in r),
        "skipped": sum(res["summary"]["skipped"] for res in results),
        "shards": [
            {
                "shard": res["shard"],
                "lines": [res["first_line"], res["last_line"]],
                "inputs": res["inputs"],
                "attempts": res["attempts"],
                "node": res["node"],
                "summary": res["summary"],
                "killed": res["killed"],
                "runs": sorted(r for r, s in run_shard.items() if s == res["shard"]),
            }
            for res in results
        ],
        "runs": len(run_shard),
        "calls": len(merged_logs),
        "seconds": seconds,
    }
    write_atomically(summary_path, [json.dumps(summary, indent=2)])
    retried = [s["shard"] for s in summary["shards"] if s["attempts"] > 1]
    print(
        f"ray job: {len(lines)} inputs in {len(shards)} shards, {summary['done']} done now, "
        f"{summary['skipped']} resumed, {summary['errors']} error lines; "
        f"{summary['runs']} runs, {summary['calls']} calls logged; "
        f"shards attempted more than once {retried or 'none'}; {seconds}s\n"
        f"  {out_path}\n  {logs_path}\n  {summary_path}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
