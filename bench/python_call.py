#!/usr/bin/env python3
"""The overhead of a Python `call()` through the `llm_do` package (docs/performance.md):
per-call time of `p.call("add", {"a": 1, "b": 2})` of a Rhai fn (a Rust-side fn: llm-do's
engine runs it), of a Python fn registered with `@p.fn` (Python -> llm-do -> Python), and of
a direct Python call `add(1, 2)` in the same process. Prints a markdown table.

    python bench/python_call.py [N] [ROUNDS]     (with the wheel installed in that Python)
"""

import statistics
import sys
import tempfile
import time
from pathlib import Path

import llm_do


def per_call_us(f, n, rounds):
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(n):
            f()
        times.append((time.perf_counter() - started) / n * 1e6)
    return statistics.median(times), min(times), max(times)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    with tempfile.TemporaryDirectory() as root:
        (Path(root) / "scripts").mkdir()
        (Path(root) / "llm-do.toml").write_text("")
        (Path(root) / "scripts" / "add.rhai").write_text(
            "/// Add two numbers.\n/// a: integer\n/// b: integer\nfn add(a, b) { a + b }\n"
        )

        def add(a: int, b: int) -> int:
            """Add two numbers."""
            return a + b

        rows = []
        for log in (False, True):
            p = llm_do.Project(root, log=log)
            p.fn(add, name="py_add")
            assert p.call("add", {"a": 1, "b": 2}) == 3
            assert p.call("py_add", {"a": 1, "b": 2}) == 3
            label = "run log on" if log else "run log off"
            rows.append((f'`p.call("add", ...)`, a Rhai fn, {label}',
                         per_call_us(lambda: p.call("add", {"a": 1, "b": 2}), n, rounds)))
            rows.append((f'`p.call("py_add", ...)`, a Python fn, {label}',
                         per_call_us(lambda: p.call("py_add", {"a": 1, "b": 2}), n, rounds)))
            p.close()
        rows.append(("`add(1, 2)`, direct Python", per_call_us(lambda: add(1, 2), n * 50, rounds)))
    print(f"| call ({n} per round, {rounds} rounds) | median µs/call | range |")
    print("|---|---|---|")
    for what, (med, lo, hi) in rows:
        print(f"| {what} | {med:.2f} | {lo:.2f}–{hi:.2f} |")


if __name__ == "__main__":
    main()
