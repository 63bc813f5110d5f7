"""Fixtures of the Python bindings' suite: a small OpenAI-wire mock model server and temporary
projects. Run by .ci/python/run.sh against the wheel installed in a fresh venv."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Optional

import pytest


def reply(content: str) -> dict[str, Any]:
    """A final answer on the OpenAI wire."""
    return {"role": "assistant", "content": content}


def tool_call(name: str, args: dict[str, Any], id: str = "call_1") -> dict[str, Any]:
    """An assistant turn calling tool `name` with `args`."""
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": id, "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
        ],
    }


class Mock:
    """An OpenAI Chat Completions server on loopback. `answer(body) -> message` decides each
    reply (default: echo the last user message); `delay` seconds pass before each answer;
    `requests` keeps every request body; `in_flight`/`peak` count requests being answered."""

    def __init__(self) -> None:
        self.answer: Callable[[dict[str, Any]], dict[str, Any]] = lambda body: reply(
            "echo: " + str(body["messages"][-1]["content"])
        )
        self.delay = 0.0
        self.requests: list[dict[str, Any]] = []
        self.in_flight = 0
        self.peak = 0
        self.lock = threading.Lock()
        mock = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                with mock.lock:
                    mock.requests.append(body)
                    mock.in_flight += 1
                    mock.peak = max(mock.peak, mock.in_flight)
                try:
                    time.sleep(mock.delay)
                    message = mock.answer(body)
                finally:
                    with mock.lock:
                        mock.in_flight -= 1
                finish = "tool_calls" if message.get("tool_calls") else "stop"
                data = json.dumps(
                    {
                        "id": "chatcmpl-1",
                        "object": "chat.completion",
                        "model": body.get("model", "m"),
                        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
                    }
                ).encode()
                try:
                    self.send_response(200)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 256

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def mock():
    m = Mock()
    yield m
    m.close()


@pytest.fixture
def make_project(tmp_path: Path, mock: Mock):
    """`make_project({path: text})`: a project whose `[providers.mock]` is the mock server and
    whose default model is `mock:m`."""

    def make(files: dict[str, str], toml: str = "") -> Path:
        config = (
            f'[providers.mock]\nbase_url = "{mock.url}"\nwire = "openai"\n\n'
            f'[defaults]\nmodel = "mock:m"\n\n{toml}'
        )
        (tmp_path / "llm-do.toml").write_text(config)
        for path, text in files.items():
            p = tmp_path / path
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text)
        return tmp_path

    return make


def last_tool_result(body: dict[str, Any]) -> Optional[str]:
    """The content of the last tool message of a request, if any."""
    tools = [m for m in body["messages"] if m["role"] == "tool"]
    return tools[-1]["content"] if tools else None
