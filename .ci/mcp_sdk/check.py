"""`llm-do mcp serve` driven by the official MCP Python SDK (PyPI `mcp`) over stdio.

Usage: check.py LLM_DO_BIN. Builds a project in a temp folder, then as a client: lists the
tools; calls a fn, a worker (the `test` model, structured output) and a `[stabilize]` name;
gets a bad call back as a tool error; has an approval accepted and one declined through
elicitation, and denied for a client without elicitation. Exits non-zero at the first
difference.
"""

import asyncio
import pathlib
import sys
import tempfile

import mcp
from mcp import types

FILES = {
    "llm-do.toml": '[defaults]\nmodel = "test"\n\n[stabilize]\ntriage = "code"\n',
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
""",
}


def expect(what, got, want):
    if got != want:
        sys.exit(f"check.py: {what}: got {got!r}, want {want!r}")
    print(f"check.py: ok: {what}")


def text(result):
    return result.content[0].text if result.content else ""


async def run(binary, root):
    params = mcp.StdioServerParameters(
        command=binary, args=["mcp", "serve", "--no-log", "--project", str(root)]
    )
    info = types.Implementation(name="python-sdk-check", version="1")
    async with mcp.stdio_client(params) as (read, write):
        async with mcp.ClientSession(read, write, client_info=info) as s:
            await s.initialize()
            tools = (await s.list_tools()).tools
            expect("tool names", sorted(t.name for t in tools), ["double", "summarise", "triage", "writer"])
            summarise = next(t for t in tools if t.name == "summarise")
            expect("output schema", summarise.output_schema["required"], ["summary"])
            r = await s.call_tool("double", {"n": 21})
            expect("fn call", (r.is_error, text(r)), (False, "42"))
            r = await s.call_tool("summarise", {"text": "hello"})
            expect("worker call", (r.is_error, r.structured_content), (False, {"summary": "hello"}))
            r = await s.call_tool("triage", {"message": "it crashed"})
            expect("switch call", (r.is_error, text(r)), (False, "bug"))
            r = await s.call_tool("double", {"n": "x"})
            expect(
                "tool error",
                (r.is_error, text(r)),
                (True, 'error: bad arguments for `double`: argument `n` must be an integer, not a string ("x")\n  hint: `double` takes (`n`)'),
            )
            r = await s.call_tool("writer", {"input": "go"})
            expect("denied without elicitation", text(r).split(";")[0], "write result: denied: `write_file` requires approval and `llm-do mcp serve` cannot ask the MCP client")
    for action, want in [("decline", "write result: denied: declined by the MCP client's user"), ("accept", "write result: wrote 1 bytes to `out.txt`")]:
        asked = []

        async def answer(context, request, action=action, asked=asked):
            asked.append(request.message)
            return types.ElicitResult(action=action, content={} if action == "accept" else None)

        async with mcp.stdio_client(params) as (read, write):
            async with mcp.ClientSession(read, write, client_info=info, elicitation_callback=answer) as s:
                await s.initialize()
                r = await s.call_tool("writer", {"input": "go"})
                expect(f"approval answered {action}", text(r), want)
                expect(f"asked once ({action})", len(asked), 1)
                expect("question", asked[0].splitlines()[0], "approval needed: `write_file`")
    expect("written after accept", (root / "out.txt").read_text(), "x")


def main():
    binary = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp)
        for rel, body in FILES.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(body)
        asyncio.run(run(binary, root))
    print("check.py: all checks passed")


if __name__ == "__main__":
    main()
