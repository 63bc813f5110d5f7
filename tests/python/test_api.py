"""The rest of the API: asyncio at scale, exceptions, cancellation, scripts, `test`, chat,
Python tools under `call_all` fan-out."""

from __future__ import annotations

import _thread
import asyncio
import json
import threading
import time

import pytest

import llm_do
from conftest import reply

ECHO = "---\nname: echo\n---\nRepeat the input.\n"


def test_a_hundred_concurrent_acalls_take_about_one_mock_delay(make_project, mock):
    root = make_project({"workers/echo.worker": ECHO})
    mock.delay = 1.0
    mock.answer = lambda body: reply("echo: " + body["messages"][-1]["content"])

    async def main(p):
        return await asyncio.gather(*(p.acall("echo", f"n{i}") for i in range(100)))

    with llm_do.Project(root) as p:
        started = time.monotonic()
        outs = asyncio.run(main(p))
        elapsed = time.monotonic() - started
    assert outs == [f"echo: n{i}" for i in range(100)]
    assert mock.peak == 100
    # One delay is 1 s; run one after another they would take 100 s.
    assert elapsed < 20, elapsed


def test_an_unknown_name_is_a_usage_error_with_the_cli_fields(make_project):
    root = make_project({"workers/echo.worker": ECHO})
    with llm_do.Project(root) as p:
        with pytest.raises(llm_do.UsageError) as e:
            p.call("ecoh", "x")
    assert e.value.fields == {
        "error": "unknown function or worker `ecoh`",
        "help": "did you mean `echo`?",
        "code": 2,
    }
    assert e.value.code == 2 and e.value.help == "did you mean `echo`?"
    assert isinstance(e.value, llm_do.Error)


def test_a_python_exception_in_a_fn_is_a_call_error(make_project):
    root = make_project({})
    with llm_do.Project(root) as p:

        @p.fn
        def check(n: int) -> int:
            """Fails on negatives."""
            if n < 0:
                raise ValueError("negative")
            return n

        assert p.call("check", {"n": 2}) == 2
        with pytest.raises(llm_do.CallError) as e:
            p.call("check", {"n": -1})
        assert e.value.error == "fn `check` failed: ValueError: negative"
        assert e.value.code == 1
        with pytest.raises(llm_do.CallError) as e:
            p.call("check", {"n": "two"})
        assert e.value.error == "bad arguments for `check`: argument `n` must be an integer, not a string (\"two\")"


def test_a_project_that_does_not_load_is_a_usage_error(tmp_path):
    (tmp_path / "workers").mkdir()
    (tmp_path / "workers" / "bad.worker").write_text("---\nname: bad\ntoolsets: [nope]\n---\nx\n")
    with pytest.raises(llm_do.UsageError) as e:
        llm_do.Project(tmp_path).call("bad", "x")
    assert e.value.error == "unknown toolset `nope` in worker `bad`"
    assert e.value.location == {"file": "workers/bad.worker", "line": 3, "column": 12}


def test_ctrl_c_cancels_the_call_tree(make_project, mock):
    root = make_project({"workers/echo.worker": ECHO})
    mock.delay = 30
    p = llm_do.Project(root)
    threading.Timer(0.5, _thread.interrupt_main).start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        p.call("echo", "slow")
    assert time.monotonic() - started < 10
    # The project is usable after an interrupted call.
    mock.delay = 0
    assert p.call("echo", "fast") == "echo: fast"
    p.close()


def test_cancelling_an_asyncio_task_cancels_its_call(make_project, mock):
    root = make_project({"workers/echo.worker": ECHO})
    mock.delay = 30

    async def main(p):
        task = asyncio.ensure_future(p.acall("echo", "slow"))
        await asyncio.sleep(0.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with llm_do.Project(root) as p:
        started = time.monotonic()
        asyncio.run(main(p))
        assert time.monotonic() - started < 10


def test_python_tools_under_call_all_fan_out_do_not_deadlock(make_project):
    script = 'let jobs = [];\nfor i in 0..40 { jobs.push(["square", #{n: i}]); }\ncall_all(jobs)\n'
    root = make_project({"scripts/fan.rhai": script})
    with llm_do.Project(root) as p:

        @p.fn
        def square(n: int) -> int:
            """n squared."""
            time.sleep(0.01)
            return n * n

        assert p.run_script(root / "scripts" / "fan.rhai") == [i * i for i in range(40)]


def test_a_python_fn_calls_back_into_the_project(make_project, mock):
    """The design's hybrid pattern: deterministic Python around a worker call."""
    root = make_project({"workers/echo.worker": ECHO})
    mock.answer = lambda body: reply("analysis of " + body["messages"][-1]["content"])
    with llm_do.Project(root) as p:

        @p.fn
        def evaluate_document(text: str) -> dict:
            """Score a document."""
            analysis = p.call("echo", text)
            return {"score": len(text), "analysis": analysis}

        assert p.call("evaluate_document", "abc") == {"score": 3, "analysis": "analysis of abc"}


def test_run_script_test_and_chat(make_project, mock):
    root = make_project(
        {
            "workers/echo.worker": ECHO,
            "scripts/twice.rhai": "fn main(args) { call(\"echo\", args[0]) + \"|\" + args.len() }\n",
            "scripts/double.rhai": "/// n: integer\nfn double(n) { n * 2 }\n",
            "tests/double.jsonl": '{"input": {"n": 2}, "expected": 4}\n{"input": {"n": 3}, "expected": 7}\n',
        }
    )
    mock.answer = lambda body: reply(f"turn {len([m for m in body['messages'] if m['role'] == 'user'])}")
    with llm_do.Project(root) as p:
        assert p.run_script(root / "scripts" / "twice.rhai", ["hi", "there"]) == "turn 1|2"
        report = p.test("double", repeat=2)
        assert report["names"][0]["name"] == "double"
        assert report["pass"] is False
        assert [c["pass"] for c in report["names"][0]["cases"]] == [True, False]
        assert [len(c["runs"]) for c in report["names"][0]["cases"]] == [2, 2]
        chat = p.chat("echo")
        assert chat.send("hello") == "turn 1"
        assert chat.send("again") == "turn 2"
    assert [m["content"] for m in mock.requests[-1]["messages"] if m["role"] != "system"] == [
        "hello",
        "turn 1",
        "again",
    ]
