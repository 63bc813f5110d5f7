"""`llm-do mcp serve` driven by the official MCP Python SDK (PyPI `mcp`), over stdio and
over streamable HTTP (`--http 127.0.0.1:0`).

Usage: check.py LLM_DO_BIN. Builds a project in a temp folder, then, on each transport, as a
client: lists the tools; calls a fn, a worker (the `test` model, structured output) and a
`[stabilize]` name; gets a bad call back as a tool error; cancels a call whose worker runs
`sleep` through the shell tool, and sees that child stop; gets progress notifications for a
call with a progress callback; sees `tools/list_changed` and the new description after a
worker is edited; has an approval accepted and one declined through elicitation, and denied
for a client without elicitation. Exits non-zero at the first difference.
"""

import asyncio
import contextlib
import pathlib
import signal
import subprocess
import sys
import tempfile

import anyio
import mcp
from mcp import types
from mcp.client.streamable_http import streamable_http_client

INFO = types.Implementation(name="python-sdk-check", version="1")

FILES = {
    "llm-do.toml": '[defaults]\nmodel = "test"\n\n[stabilize]\ntriage = "code"\n\n[shell]\nallow = [{ prefix = "sleep 123", approval = false }]\n',
    "workers/sleeper.worker": "---\nmodel: script:sleeper_model\ntoolsets: [shell]\n---\nSleep.\n",
    "workers/summarise.worker": "---\ndescription: Summarise a text.\ninput:\n  text: string\noutput:\n  summary: string\n---\nSummarise {{ text }}.\n",
    "workers/triage.worker": "---\ndescription: Classify a message.\ninput:\n  message: string\n---\nClassify {{ message }}.\n",
    "workers/writer.worker": "---\nmodel: script:writer_model\ntoolsets: [fs]\n---\nWrite out.txt.\n",
    "scripts/math.rhai": "/// Double a number.\n/// n: integer - the number to double\nfn double(n) { n * 2 }\n",
    "scripts/triage.rhai": '/// Classify a message.\n/// message: string\nfn triage(message) { if message.contains("crash") { "bug" } else { "feature" } }\n',
    "scripts/model.rhai": """
fn writer_model(request) {
    if request.turn == 0 {
        return #{tool_calls: [#{name: "write_file", args: #{path: "out.txt", content: "x"}}]};
    }
    `write result: ${request.messages[-1].tool_results[0].content}`
}

fn sleeper_model(request) {
    if request.turn == 0 {
        return #{tool_calls: [#{name: "shell", args: #{command: "sleep 123", timeout: 300}}]};
    }
    "slept"
}
""",
}


def sleepers():
    """The pids of `sleep 123` processes (the shell child of the `sleeper` worker)."""
    pids = []
    for proc in pathlib.Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (proc / "cmdline").read_bytes() == b"sleep\x00123\x00":
                pids.append(int(proc.name))
        except OSError:
            pass
    return pids


async def until(done):
    """Whether `done()` holds within a minute, checking every 20 ms."""
    for _ in range(3000):
        if done():
            return True
        await asyncio.sleep(0.02)
    return False


def expect(what, got, want):
    if got != want:
        sys.exit(f"check.py: {what}: got {got!r}, want {want!r}")
    print(f"check.py: ok: {what}")


def text(result):
    return result.content[0].text if result.content else ""


@contextlib.asynccontextmanager
async def stdio_session(binary, root, **kwargs):
    params = mcp.StdioServerParameters(
        command=binary, args=["mcp", "serve", "--no-log", "--project", str(root)]
    )
    async with mcp.stdio_client(params) as (read, write):
        async with mcp.ClientSession(read, write, client_info=INFO, **kwargs) as s:
            await s.initialize()
            yield s


def http_session_factory(url):
    @contextlib.asynccontextmanager
    async def session(binary, root, **kwargs):
        async with streamable_http_client(url) as (read, write):
            async with mcp.ClientSession(read, write, client_info=INFO, **kwargs) as s:
                await s.initialize()
                yield s

    return session


def start_http(binary, root):
    """`llm-do mcp serve --http 127.0.0.1:0`, and the URL it says it listens on."""
    server = subprocess.Popen(
        [binary, "mcp", "serve", "--no-log", "--project", str(root), "--http", "127.0.0.1:0"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = server.stderr.readline().strip()
    prefix = "llm-do mcp serve: listening on "
    if not line.startswith(prefix):
        server.kill()
        sys.exit(f"check.py: --http: unexpected first line {line!r}")
    return server, line[len(prefix):]


async def run(binary, root, session, label):
    def expect_(what, got, want):
        expect(f"{label}: {what}", got, want)

    changed = []

    async def on_message(message):
        if isinstance(getattr(message, "root", message), types.ToolListChangedNotification):
            changed.append(1)

    async with session(binary, root, message_handler=on_message) as s:
        tools = (await s.list_tools()).tools
        expect_("tool names", sorted(t.name for t in tools), ["double", "sleeper", "summarise", "triage", "writer"])
        summarise = next(t for t in tools if t.name == "summarise")
        expect_("output schema", summarise.output_schema["required"], ["summary"])
        r = await s.call_tool("double", {"n": 21})
        expect_("fn call", (r.is_error, text(r)), (False, "42"))
        r = await s.call_tool("summarise", {"text": "hello"})
        expect_("worker call", (r.is_error, r.structured_content), (False, {"summary": "hello"}))
        r = await s.call_tool("triage", {"message": "it crashed"})
        expect_("switch call", (r.is_error, text(r)), (False, "bug"))
        r = await s.call_tool("double", {"n": "x"})
        expect_(
            "tool error",
            (r.is_error, text(r)),
            (True, 'error: bad arguments for `double`: argument `n` must be an integer, not a string ("x")\n  hint: `double` takes (`n`)'),
        )
        r = await s.call_tool("writer", {"input": "go"})
        expect_("denied without elicitation", text(r).split(";")[0], "write result: denied: `write_file` requires approval and `llm-do mcp serve` cannot ask the MCP client")
        steps = []

        async def progress(done, total, message):
            steps.append((done, message))

        r = await s.call_tool("summarise", {"text": "hi"}, progress_callback=progress)
        expect_("progress", steps, [(1.0, "`summarise` got an answer from `test`")])
        # Cancellation: the call tree stops, its shell child too, and the session goes on.
        async with anyio.create_task_group() as tg:
            tg.start_soon(s.call_tool, "sleeper", {"input": "go"})
            expect_("shell child started", await until(sleepers), True)
            started = sleepers()
            tg.cancel_scope.cancel()
        stopped = await until(lambda: not set(started) & set(sleepers()))
        expect_("cancellation stops the shell child", stopped, True)
        r = await s.call_tool("double", {"n": 2})
        expect_("a call after the cancellation", text(r), "4")
        # Hot reload: an edited worker description, then `tools/list_changed`.
        worker = root / "workers/summarise.worker"
        original = worker.read_text()
        worker.write_text(original.replace("Summarise a text.", "Summarise a text briefly."))
        await until(lambda: changed)
        expect_("tools/list_changed after editing a worker", len(changed), 1)
        tools = (await s.list_tools()).tools
        summarise = next(t for t in tools if t.name == "summarise")
        expect_("edited description", summarise.description, "Summarise a text briefly.")
        worker.write_text(original)
    for action, want in [("decline", "write result: denied: declined by the MCP client's user"), ("accept", "write result: wrote 1 bytes to `out.txt`")]:
        asked = []

        async def answer(context, request, action=action, asked=asked):
            asked.append(request.message)
            return types.ElicitResult(action=action, content={} if action == "accept" else None)

        async with session(binary, root, elicitation_callback=answer) as s:
            r = await s.call_tool("writer", {"input": "go"})
            expect_(f"approval answered {action}", text(r), want)
            expect_(f"asked once ({action})", len(asked), 1)
            expect_("question", asked[0].splitlines()[0], "approval needed: `write_file`")
    expect_("written after accept", (root / "out.txt").read_text(), "x")
    (root / "out.txt").unlink()


def main():
    binary = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp)
        for rel, body in FILES.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(body)
        asyncio.run(run(binary, root, stdio_session, "stdio"))
        server, url = start_http(binary, root)
        try:
            asyncio.run(run(binary, root, http_session_factory(url), "http"))
        finally:
            server.send_signal(signal.SIGTERM)
            code = server.wait(timeout=60)
        expect("http: server exit status after SIGTERM", code, 0)
    print("check.py: all checks passed")


if __name__ == "__main__":
    main()
