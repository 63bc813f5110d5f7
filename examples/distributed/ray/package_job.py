#!/usr/bin/env python3
"""The Ray example with the `llm_do` Python package instead of the binary: each Ray task opens
the project with `llm_do.Project` and runs its shard's inputs as concurrent `acall`s (no
subprocess, no files per shard); the driver merges the outputs in input order and checks that
every input came back exactly once. With `--reference OUT.jsonl` (one `llm-do batch` over the
same inputs) every output must equal the batch's.

    python package_job.py --project DIR --name NAME [--model ID] [--shards N] [--reference F]

An input line that is not JSON, or whose call fails, comes back as `{"line", "error"}` with the
exception's `--error-format json` fields, as `llm-do batch` keeps going past a bad line. Unlike
job.py there is no resume: a retried shard runs again whole (see README.md).
"""

import argparse
import asyncio
import json
import os
import sys

import ray

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from job import PROVIDER_KEYS, input_lines, shards_of  # noqa: E402


@ray.remote(max_retries=2)
def run_shard(numbered, project, name, model):
    """Run `name` on each (line number, text) of one shard in this Ray worker's process."""
    import llm_do

    async def one(p, n, text):
        try:
            value = json.loads(text)
        except ValueError as e:
            return {"line": n, "error": {"error": f"line {n} is not JSON: {e}"}}
        try:
            return {"line": n, "output": await p.acall(name, value)}
        except llm_do.Error as e:
            return {"line": n, "error": e.fields}

    async def all_of(p):
        return await asyncio.gather(*(one(p, n, text) for n, text in numbered))

    with llm_do.Project(project, model=model, log=False) as p:
        return asyncio.run(all_of(p))


def main():
    a = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    a.add_argument("--input", default=os.path.join(HERE, "inputs.jsonl"))
    a.add_argument("--project", required=True)
    a.add_argument("--name", default="filename_cleaner")
    a.add_argument("--model")
    a.add_argument("--shards", type=int, default=4)
    a.add_argument("--out", help="where to write the merged JSONL (default: stdout)")
    a.add_argument("--reference", help="`llm-do batch` output to compare with")
    args = a.parse_args()

    lines = input_lines(args.input)
    # PYTHONPATH reaches the tasks when the package is installed with `pip --target` (run.sh).
    env_vars = {k: os.environ[k] for k in PROVIDER_KEYS + ["PYTHONPATH"] if k in os.environ}
    ray.init(runtime_env={"env_vars": env_vars}, logging_level="WARNING")
    project = os.path.abspath(args.project)
    refs = [run_shard.remote(s, project, args.name, args.model) for s in shards_of(lines, args.shards)]
    records = sorted((r for shard in ray.get(refs) for r in shard), key=lambda r: r["line"])

    if [r["line"] for r in records] != [n for n, _ in lines]:
        print("error: the shards' outputs do not cover the inputs exactly once", file=sys.stderr)
        return 1
    if args.reference:
        with open(args.reference, encoding="utf-8") as f:
            batch = {r["line"]: r for r in map(json.loads, f)}
        differ = [
            r["line"] for r in records
            if ("output" in r) != ("output" in batch[r["line"]])
            or r.get("output") != batch[r["line"]].get("output")
        ]
        if differ:
            print(f"error: outputs differ from the batch's on lines {differ[:20]}", file=sys.stderr)
            return 1
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    errors = sum(1 for r in records if "error" in r)
    same = ", each output the same as the batch's" if args.reference else ""
    print(f"package job: {len(records)} inputs in {args.shards} shards, every one back once, "
          f"{errors} error lines{same}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
