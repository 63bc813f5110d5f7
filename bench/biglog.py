#!/usr/bin/env python3
"""Build a large run log fast, for timing its readers (docs/performance.md, round 6):

    biglog.py BIN DIR [CALLS] [RUNS]

Makes a project in DIR (a `greeter` worker on the `test` model and a `classify` worker), runs
BIN once so that the binary itself creates `.llm-do/log.db` in its current schema, then appends
CALLS calls (default 1,000,000) spread over RUNS runs (default 100) straight into the `calls`
and `runs` tables with sqlite3, in seconds, and runs BIN again so that its migration builds the
per-name aggregates (schema 6) of those rows. Rows look like the ones the binary writes: a third of
the inputs repeat, times spread over the last 30 days, token counts and costs on workers.
It is a bench helper, not part of the test suite.
"""

import os
import random
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    binary, root = sys.argv[1], sys.argv[2]
    total = int(sys.argv[3]) if len(sys.argv) > 3 else 1_000_000
    runs = int(sys.argv[4]) if len(sys.argv) > 4 else 100
    os.makedirs(os.path.join(root, "workers"), exist_ok=True)
    with open(os.path.join(root, "llm-do.toml"), "w") as f:
        f.write("")
    for name in ("greeter", "classify"):
        with open(os.path.join(root, "workers", f"{name}.worker"), "w") as f:
            f.write("---\nmodel: test\n---\nAnswer.\n")
    subprocess.run([binary, "run", "greeter", "Ada"], cwd=root, check=True,
                   stdout=subprocess.DEVNULL)
    db = sqlite3.connect(os.path.join(root, ".llm-do", "log.db"))
    db.execute("PRAGMA synchronous = OFF")
    rng = random.Random(7)
    now = datetime.now(timezone.utc)
    per_run = total // runs
    words = ["ada", "grace", "alan", "edsger", "barbara", "donald", "ken", "dennis", "linus"]
    for r in range(runs):
        start = now - timedelta(days=30) + timedelta(seconds=r * 30 * 86_400 / runs)
        run_id = f"{int(start.timestamp() * 1000):012x}{rng.getrandbits(32):08x}"
        rows = []
        for i in range(1, per_run + 1):
            t = start + timedelta(milliseconds=i * 5)
            stamp = t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"
            name = "greeter" if i % 3 else "classify"
            # A third of the inputs repeat across the log; the rest are new.
            if i % 3 == 0:
                word = words[i % len(words)]
            else:
                word = f"{words[i % len(words)]} {r}-{i}"
            text = f"Hello, {word}! The quick brown fox jumps over the lazy dog."
            input_ = '{"input":"%s"}' % word
            output = '"%s"' % text if name == "greeter" else '"%s"' % ("yes" if i % 2 else "no")
            error = "model said no" if i % 97 == 0 else None
            if error:
                output = None
            rows.append((run_id, i, None, 0, "worker", name, input_, output, error, "test",
                         12 + i % 7, 9 + i % 5, 0, 0, 0.00002, 0.2 + (i % 50) / 10, stamp))
        db.execute("BEGIN")
        db.execute("INSERT INTO runs (id, started, ended, command, status) VALUES (?,?,?,?,?)",
                   (run_id, rows[0][-1], rows[-1][-1], "llm-do bench.rhai", "ok"))
        db.executemany(
            "INSERT INTO calls (run, id, parent, depth, kind, name, input, output, error, model,"
            " tokens_in, tokens_out, cache_read, cache_write, cost, ms, time)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
        db.execute("COMMIT")
    # The rows went around the aggregates the binary keeps (schema 6): mark the log as of
    # schema 5 so that the binary's migration builds them, once, as it does for an old log.
    db.execute("PRAGMA user_version = 5")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    subprocess.run([binary, "logs", "-n", "1"], cwd=root, check=True,
                   stdout=subprocess.DEVNULL)
    size = os.path.getsize(os.path.join(root, ".llm-do", "log.db"))
    print(f"{per_run * runs} calls in {runs} runs, {size / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
