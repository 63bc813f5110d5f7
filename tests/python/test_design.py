"""The design's own examples (docs/python.md), in Python: a worker and a Python tool called
the same way; a Python tool seen by a worker's model; a Python policy refusing a call;
stabilizing a worker into a Python fn with no call-site change."""

from __future__ import annotations

import json

import llm_do
from conftest import last_tool_result, reply, tool_call

FILE_ORGANIZER = """---
name: file_organizer
---
You organize files by renaming them to consistent formats.
Given a filename, return a cleaned version.
"""

FILENAME_CLEANER = """---
name: filename_cleaner
toolsets: [sanitize_filename]
---
Clean the given filename. Use sanitize_filename for basic cleanup.
"""


def sanitize(name: str) -> str:
    name = name.strip().lower()
    return "".join(c if c.isalnum() or c in ".-_" else "_" for c in name)


def test_a_worker_and_a_python_tool_are_called_the_same_way(make_project, mock):
    root = make_project({"workers/file_organizer.worker": FILE_ORGANIZER})
    mock.answer = lambda body: reply("my_file.txt")
    with llm_do.Project(root) as p:

        @p.fn
        def sanitize_filename(name: str) -> str:
            """Remove special characters from filename."""
            return sanitize(name)

        assert p.call("file_organizer", {"input": "My File!.txt"}) == "my_file.txt"
        assert p.call("sanitize_filename", {"name": " My File!.txt"}) == "my_file_.txt"
        # A lone value goes to the one parameter, as for a Rhai fn.
        assert p.call("sanitize_filename", "A B") == "a_b"
    assert len(mock.requests) == 1
    assert mock.requests[0]["messages"][-1] == {"role": "user", "content": "My File!.txt"}


def test_a_python_tool_is_seen_by_a_workers_model(make_project, mock):
    root = make_project({"workers/filename_cleaner.worker": FILENAME_CLEANER})

    def answer(body):
        result = last_tool_result(body)
        if result is None:
            return tool_call("sanitize_filename", {"name": "Quarterly Report (final).PDF"})
        return reply(f"cleaned: {result}")

    mock.answer = answer
    p = llm_do.Project(root)
    seen = []

    @p.fn
    def sanitize_filename(name: str) -> str:
        """Remove special characters from filename."""
        seen.append(name)
        return sanitize(name)

    out = p.call("filename_cleaner", "Quarterly Report (final).PDF")
    p.close()
    assert out == "cleaned: quarterly_report__final_.pdf"
    assert seen == ["Quarterly Report (final).PDF"]
    # What the model saw: the docstring and the type hints.
    assert mock.requests[0]["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "sanitize_filename",
                "description": "Remove special characters from filename.",
                "parameters": {
                    "type": "object",
                    "properties": {"name": {"type": "string"}},
                    "required": ["name"],
                    "additionalProperties": False,
                },
            },
        }
    ]
    assert last_tool_result(mock.requests[1]) == "quarterly_report__final_.pdf"


DELETER = """---
name: tidy
toolsets: [read_note, delete_file]
---
Tidy up.
"""


def test_a_python_policy_refuses_a_call(make_project, mock):
    root = make_project({"workers/tidy.worker": DELETER})
    calls = iter(
        [
            tool_call("read_note", {"path": "a.txt"}, id="c1"),
            tool_call("delete_file", {"path": "a.txt"}, id="c2"),
            reply("done"),
        ]
    )
    mock.answer = lambda body: next(calls)
    p = llm_do.Project(root)
    deleted = []
    asked = []

    @p.fn
    def read_note(path: str) -> str:
        """Read a note."""
        return f"note {path}"

    @p.fn
    def delete_file(path: str) -> str:
        """Delete a file."""
        deleted.append(path)
        return "deleted"

    @p.policy
    def my_policy(request):
        asked.append(request["tool"])
        if request["tool"] == "read_note":
            return "approve"
        if request["tool"] == "delete_file":
            return "reject"
        return "prompt"

    assert p.call("tidy", "tidy a.txt") == "done"
    p.close()
    assert deleted == []
    assert asked == ["read_note", "delete_file"]
    assert last_tool_result(mock.requests[1]) == "note a.txt"
    assert last_tool_result(mock.requests[2]) == "denied: rejected by the approval policy `fn approve`"


SENTIMENT = """---
name: sentiment
input:
  text: {type: string}
---
Say whether the text is positive or negative.
"""

CALLER = 'let s = call("sentiment", #{text: args[0]});\n"sentiment: " + s\n'


def test_stabilizing_a_worker_into_a_python_fn_keeps_the_call_site(make_project, mock, tmp_path):
    root = make_project(
        {"workers/sentiment.worker": SENTIMENT, "scripts/main.rhai": CALLER},
        toml='[stabilize]\nsentiment = "worker"\n',
    )
    mock.answer = lambda body: reply("positive (the model)")
    with llm_do.Project(root) as p:

        @p.fn
        def sentiment(text: str) -> str:
            """Positive when the text says good."""
            return "positive (code)" if "good" in text else "negative (code)"

        script = root / "scripts" / "main.rhai"
        assert p.run_script(script, ["a good day"]) == "sentiment: positive (the model)"
        assert p.call("sentiment", {"text": "a good day"}) == "positive (the model)"

        config = (root / "llm-do.toml").read_text().replace('"worker"', '"code"')
        (root / "llm-do.toml").write_text(config)
        p.reload()
        assert p.run_script(script, ["a good day"]) == "sentiment: positive (code)"
        assert p.call("sentiment", {"text": "bad"}) == "negative (code)"
    assert len(mock.requests) == 2


WRITER = """---
name: writer
toolsets: [fs]
---
Write the notes.
"""


def test_a_python_approval_prompt_answers_for_the_terminal(make_project, mock):
    root = make_project({"workers/writer.worker": WRITER})
    calls = iter(
        [
            tool_call("write_file", {"path": "out/a.txt", "content": "A"}, id="c1"),
            tool_call("write_file", {"path": "secret.txt", "content": "S"}, id="c2"),
            reply("written"),
        ]
    )
    mock.answer = lambda body: next(calls)
    asked = []
    with llm_do.Project(root) as p:

        @p.prompter
        def ask(request):
            asked.append((request["tool"], request["args"]["path"]))
            return "approve" if request["args"]["path"].startswith("out/") else "only out/ is writable"

        assert p.call("writer", "notes") == "written"
    assert asked == [("write_file", "out/a.txt"), ("write_file", "secret.txt")]
    assert (root / "out" / "a.txt").read_text() == "A"
    assert not (root / "secret.txt").exists()
    assert last_tool_result(mock.requests[2]) == "denied: only out/ is writable"
