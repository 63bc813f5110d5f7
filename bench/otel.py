#!/usr/bin/env python3
"""What OpenTelemetry export adds to a short run (docs/performance.md):

    otel.py BIN [ROUNDS [BASE_BIN]]

Starts a local OTLP/HTTP sink (answers 200 to every POST /v1/traces and counts the spans'
bodies), makes a project whose worker (`test` model) calls a fn tool, and runs
`BIN run shouter hello --no-log` ROUNDS times (default 100) with export on
(OTEL_EXPORTER_OTLP_ENDPOINT at the sink) and off, in a fresh random order each round. Prints
the median of (on - off) wall and CPU ms with a 90% bootstrap interval of the wall median, then
the threads of a sleeping run with export off and on (from /proc), and what the sink received.
With BASE_BIN (a build without export), also the threads of its sleeping run: export off
starts none of its own.
"""

import http.server
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time

received = {"requests": 0, "bytes": 0}


class Sink(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        received["requests"] += 1
        received["bytes"] += len(body)
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def once(binary, args, env, cwd):
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        os.chdir(cwd)
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(null, 2)
        os.execve(binary, [binary] + args, env)
    _, status, usage = os.wait4(pid, 0)
    if status != 0:
        sys.exit(f"error: `{binary} {' '.join(args)}` failed (status {status})")
    return (time.perf_counter() - start) * 1000, (usage.ru_utime + usage.ru_stime) * 1000


def threads(binary, env, cwd):
    """Threads of a run that sleeps after its worker call (read from /proc while it sleeps)."""
    ready = os.path.join(cwd, "out", "ready.txt")
    if os.path.exists(ready):
        os.remove(ready)
    p = subprocess.Popen([binary, "--no-log", "sleepy.rhai"], cwd=cwd, env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not os.path.exists(ready):
        time.sleep(0.01)
    time.sleep(0.2)
    with open(f"/proc/{p.pid}/status") as f:
        n = next(int(line.split()[1]) for line in f if line.startswith("Threads:"))
    p.kill()
    p.wait()
    return n


def main():
    binary = os.path.abspath(sys.argv[1])
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    with tempfile.TemporaryDirectory() as project:
        os.makedirs(f"{project}/workers")
        os.makedirs(f"{project}/scripts")
        with open(f"{project}/workers/shouter.worker", "w") as f:
            f.write("---\nmodel: test\ntoolsets: [shout]\n---\nShout it.\n")
        with open(f"{project}/scripts/lib.rhai", "w") as f:
            f.write("/// text: string\nfn shout(text) { text.to_upper() }\n")
        with open(f"{project}/sleepy.rhai", "w") as f:
            f.write('call("shouter", "hi");\nwrite_text("out/ready.txt", "1");\nsleep(600000);\n')
        open(f"{project}/llm-do.toml", "w").close()
        base = {k: v for k, v in os.environ.items()
                if not k.startswith("OTEL_") and k not in ("TRACEPARENT", "LLM_DO_MODEL")}
        base["HOME"] = project
        on = dict(base, OTEL_EXPORTER_OTLP_ENDPOINT=endpoint)
        args = ["run", "shouter", "hello", "--no-log"]
        for env in (on, base):
            once(binary, args, env, project)  # warm the page cache
        wall, cpu = [], []
        for _ in range(rounds):
            jobs = [True, False]
            random.shuffle(jobs)
            got = {j: once(binary, args, on if j else base, project) for j in jobs}
            wall.append(got[True][0] - got[False][0])
            cpu.append(got[True][1] - got[False][1])
        medians = sorted(statistics.median(random.choices(wall, k=rounds)) for _ in range(2000))
        print(f"export on - off, {rounds} rounds: wall {statistics.median(wall):.2f} ms "
              f"(90%: {medians[100]:.2f} to {medians[1900]:.2f}), CPU {statistics.median(cpu):.2f} ms")
        print(f"threads of a sleeping run: off {threads(binary, base, project)}, "
              f"on {threads(binary, on, project)}")
        if len(sys.argv) > 3:
            print(f"threads of a sleeping run of {sys.argv[3]}: "
                  f"{threads(os.path.abspath(sys.argv[3]), base, project)}")
        print(f"sink: {received['requests']} requests, {received['bytes']} bytes "
              f"({received['bytes'] / max(received['requests'], 1):.0f} bytes a run)")
    server.shutdown()


if __name__ == "__main__":
    main()
