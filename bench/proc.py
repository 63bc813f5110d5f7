#!/usr/bin/env python3
"""Run one command and print its wall time, its CPU time (user + system of the process and its
children, from getrusage: microsecond resolution, unlike /usr/bin/time's 10 ms) and its peak
RSS, for bench/run.sh:

    proc.py CMD [ARG...]      ->  "WALL_MS CPU_MS RSS_MB"

stdout goes to $PROC_OUT (default /dev/null), stderr to $PROC_ERR; a failing command exits 1.
"""

import os
import resource
import subprocess
import sys
import time


def main():
    out = open(os.environ.get("PROC_OUT", os.devnull), "wb")
    err = open(os.environ.get("PROC_ERR", os.devnull), "wb")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    status = subprocess.call(sys.argv[1:], stdout=out, stderr=err)
    wall = (time.perf_counter() - started) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
    print(f"{wall:.3f} {cpu:.3f} {after.ru_maxrss / 1024:.2f}")
    if status != 0:
        sys.exit(1)


if __name__ == "__main__":
    main()
