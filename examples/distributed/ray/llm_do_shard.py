"""One Ray task: `llm-do batch` on one shard of the inputs.

job.py imports this module and ships it to the workers in the job's working_dir, next to the
project and (unless --no-ship) the llm-do binary, so Ray pickles `run_shard` by reference and
the exception classes below are the same on both sides. A task runs in that working_dir (its
current directory): `project/` and `bin/llm-do` are found there.

A shard lives in its own folder, `WORKDIR/shard-NNNN/`:

    in.jsonl       the shard's inputs, one per line (written once; a retry checks it is the same)
    out.jsonl      llm-do's OUT: a retry resumes it (lines already there are skipped)
    project/       a copy of the project, so `.llm-do/log.db` holds this shard's runs only
    attempts       how many times a task started on this shard
    lock           held (flock) by the task and its llm-do while a batch runs on out.jsonl
    killed.json    only after --kill-first-attempt: what the killed attempt left in out.jsonl
"""

import ctypes
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import ray

class Retryable(Exception):
    """llm-do exited 1 (runtime error) or 130 (interrupted), or died of a signal or a timeout.

    Another attempt may succeed, and it resumes OUT instead of starting over.
    """


class Fatal(Exception):
    """Retrying cannot help: exit 2 (usage or project error), 3 (aborted at an approval), no
    binary, or a shard folder that holds a different shard."""


def _binary(cfg):
    """The shipped binary (bin/llm-do in the working_dir), else cfg["binary"], else PATH."""
    shipped = os.path.join(os.getcwd(), "bin", "llm-do")
    if os.path.isfile(shipped):
        if not os.access(shipped, os.X_OK):
            os.chmod(shipped, 0o755)
        return shipped
    found = shutil.which(cfg.get("binary") or "llm-do")
    if not found:
        raise Fatal(
            f"no llm-do binary on node {ray.util.get_node_ip_address()}: ship one "
            "(job.py --binary, or LLM_DO_BIN) or put llm-do on every node's PATH"
        )
    return found


def _attempt(root):
    path = os.path.join(root, "attempts")
    try:
        with open(path) as f:
            n = int(f.read().strip() or 0) + 1
    except FileNotFoundError:
        n = 1
    with open(path, "w") as f:
        f.write(f"{n}\n")
    return n


def _write_inputs(path, text):
    """Write the shard's inputs once; a later attempt must find exactly the same lines, since
    OUT's `line` numbers refer to them."""
    try:
        with open(path, encoding="utf-8", newline="") as f:
            if f.read() != text:
                raise Fatal(
                    f"`{path}` holds other inputs than this shard (a different INPUTS or "
                    "--shards with the same --workdir?); use a fresh --workdir"
                )
        return
    except FileNotFoundError:
        pass
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    os.replace(tmp, path)


def _die_with_parent():
    """Linux: llm-do gets SIGKILL when the task's thread dies (a crashed or killed Ray worker),
    so an orphaned batch cannot go on appending to OUT beside the retry."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    return lambda: prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG


def _lock(root, timeout=60.0):
    """The shard's lock, an open file the caller keeps and passes to llm-do: it is released only
    when both have exited, so two batches never append to the same OUT at once."""
    fd = os.open(os.path.join(root, "lock"), os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() > deadline:
                os.close(fd)
                raise Retryable(f"`{root}` is locked: another llm-do batch still runs on it")
            time.sleep(0.2)


def _spawn(cmd, lock, nice=0, **kwargs):
    die = _die_with_parent()

    def setup():
        if die:
            die()
        if nice:
            os.nice(nice)

    return subprocess.Popen(cmd, pass_fds=(lock,), preexec_fn=setup, **kwargs)


def _whole_lines(path):
    try:
        with open(path, "rb") as f:
            return f.read().count(b"\n")
    except FileNotFoundError:
        return 0


def _kill_mid_batch(cmd, lock, out_path, root):
    """Chaos for the retry demo: SIGKILL llm-do as soon as OUT has its first bytes, then kill
    this Ray worker, so Ray retries the task on the same shard."""
    # At the lowest priority, so on a busy machine the watcher sees the first line before the
    # `test` model (a few ms per shard) has finished the whole shard.
    proc = _spawn(cmd, lock, nice=19, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while proc.poll() is None:
        try:
            if os.path.getsize(out_path) > 0:
                break
        except FileNotFoundError:
            pass
    proc.kill()
    proc.wait()
    killed = {
        "exit": proc.returncode,
        "whole_lines": _whole_lines(out_path),
        "bytes": os.path.getsize(out_path) if os.path.exists(out_path) else 0,
    }
    with open(os.path.join(root, "killed.json"), "w") as f:
        json.dump(killed, f)
    os.kill(os.getpid(), signal.SIGKILL)


@ray.remote(num_cpus=1, max_retries=3, retry_exceptions=[Retryable])
def run_shard(shard, numbers, lines, cfg):
    """Run `llm-do batch` on one shard and return its OUT (with `line` renumbered to the global
    input line) and its run log rows (`llm-do logs --json`).

    numbers[i] is the global input line number of lines[i]; lines has no blank lines, so the
    shard's own line i+1 is global line numbers[i].
    """
    root = os.path.join(cfg["workdir"], f"shard-{shard:04d}")
    os.makedirs(root, exist_ok=True)
    lock = _lock(root)
    try:
        return _run_locked(shard, numbers, lines, cfg, root, lock)
    finally:
        os.close(lock)


def _run_locked(shard, numbers, lines, cfg, root, lock):
    attempt = _attempt(root)
    in_path = os.path.join(root, "in.jsonl")
    out_path = os.path.join(root, "out.jsonl")
    _write_inputs(in_path, "".join(line + "\n" for line in lines))

    project = os.path.join(root, "project")
    shutil.copytree(
        os.path.join(os.getcwd(), "project"),
        project,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns(".llm-do"),
    )
    llm_do = _binary(cfg)
    cmd = [llm_do, "batch", cfg["name"], in_path, "-o", out_path, "--project", project, "--json"]
    if cfg.get("model"):
        cmd += ["--model", cfg["model"]]

    if cfg.get("kill_first_attempt") == shard and attempt == 1:
        _kill_mid_batch(cmd, lock, out_path, root)
    proc = _spawn(cmd, lock, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = proc.communicate(timeout=cfg.get("timeout"))
    except subprocess.TimeoutExpired:
        # SIGKILL leaves OUT with whole lines (a cut-off last one is dropped on resume).
        proc.kill()
        proc.wait()
        raise Retryable(f"shard {shard}: llm-do batch timed out after {cfg['timeout']}s") from None
    if proc.returncode != 0:
        tail = stderr[-2000:]
        message = f"shard {shard} (attempt {attempt}): llm-do batch exited {proc.returncode}:\n{tail}"
        if proc.returncode in (2, 3):
            raise Fatal(message)
        raise Retryable(message)
    summary = json.loads(stdout)

    logs = subprocess.run(
        [llm_do, "logs", "--json", "-n", str(2**62), "--project", project],
        capture_output=True,
        text=True,
    )
    if logs.returncode != 0:
        tail = logs.stderr[-2000:]
        raise Retryable(f"shard {shard}: llm-do logs exited {logs.returncode}:\n{tail}")
    rows = json.loads(logs.stdout)

    records = []
    with open(out_path, encoding="utf-8") as f:
        for text in f:
            record = json.loads(text)
            local = record["line"]
            record["line"] = numbers[local - 1]
            # The error of an input that is not JSON names its line: the global one, as one
            # batch over the whole file would.
            error = record.get("error")
            prefix = f"input line {local} is not valid JSON"
            if isinstance(error, str) and error.startswith(prefix):
                rest = error[len(prefix) :]
                record["error"] = f"input line {record['line']} is not valid JSON{rest}"
            records.append(record)

    killed = None
    if os.path.exists(os.path.join(root, "killed.json")):
        with open(os.path.join(root, "killed.json")) as f:
            killed = json.load(f)
    return {
        "shard": shard,
        "first_line": numbers[0],
        "last_line": numbers[-1],
        "inputs": len(lines),
        "attempts": attempt,
        "node": ray.get_runtime_context().get_node_id(),
        "summary": summary,
        "killed": killed,
        "records": records,
        "log_rows": rows,
    }
