#!/usr/bin/env python3
"""A plain client against the mock model server: the floor llm-do's wall times are measured
against in bench/run.sh (the mock's own latency, its parsing of what is sent, the HTTP round
trips), so that what is left is llm-do's own time.

It keeps each message's JSON text and joins them per request (no re-encoding), reuses one
keep-alive connection per thread, and prints the wall time in milliseconds of what it was
asked to do (not counting its own start-up):

    floor.py URL one DELAY_MS            one request
    floor.py URL loop TURNS DELAY_MS     a tool loop of TURNS tool calls (TURNS + 1 requests)
    floor.py URL seq N DELAY_MS          N requests one after another
    floor.py URL conc N DELAY_MS         N requests at once, one thread each
"""

import http.client
import json
import sys
import threading
import time
import urllib.parse

TOOLS = json.dumps(
    [
        {
            "type": "function",
            "function": {
                "name": "noop",
                "description": "Do nothing.",
                "parameters": {
                    "type": "object",
                    "properties": {},
                    "required": [],
                    "additionalProperties": False,
                },
            },
        }
    ],
    separators=(",", ":"),
)


def connect(url):
    u = urllib.parse.urlparse(url)
    return http.client.HTTPConnection(u.hostname, u.port)


def post(conn, body):
    conn.request(
        "POST",
        "/v1/chat/completions",
        body=body,
        headers={"content-type": "application/json"},
    )
    reply = conn.getresponse()
    data = reply.read()
    if reply.status != 200:
        raise SystemExit(f"mock answered {reply.status}: {data[:200]!r}")
    return json.loads(data)


def body(messages, tools):
    text = '{"model":"m","messages":[' + ",".join(messages) + "]"
    if tools:
        text += ',"tools":' + TOOLS + ',"tool_choice":"auto"'
    return (text + "}").encode()


def enc(value):
    return json.dumps(value, separators=(",", ":"))


def conversation(url, text, tools=False):
    """One conversation to its final answer; returns the number of requests."""
    conn = connect(url)
    messages = [enc({"role": "system", "content": "Loop."}), enc({"role": "user", "content": text})]
    requests = 0
    while True:
        reply = post(conn, body(messages, tools))
        requests += 1
        message = reply["choices"][0]["message"]
        calls = message.get("tool_calls") or []
        if not calls:
            conn.close()
            return requests
        messages.append(enc({"role": "assistant", "content": None, "tool_calls": calls}))
        for c in calls:
            messages.append(enc({"role": "tool", "tool_call_id": c["id"], "content": "1"}))


def main():
    url, mode, *args = sys.argv[1:]
    started = time.perf_counter()
    if mode == "one":
        conversation(url, f"delay_ms={args[0]} floor")
    elif mode == "loop":
        turns, delay = args
        n = conversation(url, f"tools={turns} delay_ms={delay} floor", tools=True)
        assert n == int(turns) + 1, n
    elif mode == "seq":
        n, delay = args
        for i in range(int(n)):
            conversation(url, f"delay_ms={delay} seq {i}")
    elif mode == "conc":
        n, delay = args
        threads = [
            threading.Thread(target=conversation, args=(url, f"delay_ms={delay} conc {i}"))
            for i in range(int(n))
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    else:
        raise SystemExit(f"unknown mode {mode}")
    print(f"{(time.perf_counter() - started) * 1000:.2f}")


if __name__ == "__main__":
    main()
