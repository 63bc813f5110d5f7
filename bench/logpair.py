#!/usr/bin/env python3
"""What the run log adds to a short run, per binary, for bench/run.sh:

    logpair.py ROUNDS OUTDIR NAME=BIN [NAME=BIN ...] -- ARG...

Each round runs every binary twice, with the log and with `--no-log`, in a fresh random order,
so that the machine's drift falls on all of them alike. Per binary it writes, to
OUTDIR/logpair.NAME.{wall,cpu,lo,hi}, the median over the rounds of (log on - log off) wall
and CPU time in ms, and a 90% bootstrap interval of the wall median.
"""

import os
import random
import statistics
import sys
import time


def once(binary, args):
    """Wall and CPU ms of one run of `binary args` (stdout and stderr to /dev/null)."""
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(null, 2)
        os.execv(binary, [binary] + args)
    _, status, usage = os.wait4(pid, 0)
    if status != 0:
        sys.exit(f"error: `{binary} {' '.join(args)}` failed (status {status})")
    return (time.perf_counter() - start) * 1000, (usage.ru_utime + usage.ru_stime) * 1000


def main():
    split = sys.argv.index("--")
    rounds, outdir = int(sys.argv[1]), sys.argv[2]
    bins = dict(b.split("=", 1) for b in sys.argv[3:split])
    args = sys.argv[split + 1:]
    wall = {name: [] for name in bins}
    cpu = {name: [] for name in bins}
    for _ in range(rounds):
        jobs = [(name, log) for name in bins for log in (True, False)]
        random.shuffle(jobs)
        got = {(name, log): once(bins[name], args if log else ["--no-log"] + args)
               for name, log in jobs}
        for name in bins:
            wall[name].append(got[(name, True)][0] - got[(name, False)][0])
            cpu[name].append(got[(name, True)][1] - got[(name, False)][1])
    for name in bins:
        medians = sorted(statistics.median(random.choices(wall[name], k=rounds))
                         for _ in range(1000))
        figures = {
            "wall": statistics.median(wall[name]),
            "cpu": statistics.median(cpu[name]),
            "lo": medians[50],
            "hi": medians[949],
        }
        for key, value in figures.items():
            with open(os.path.join(outdir, f"logpair.{name}.{key}"), "w") as f:
                f.write(f"{value:.4f}\n")


if __name__ == "__main__":
    main()
