"""Read a run's spans back from Phoenix's REST API and check them.

Usage: check.py PHOENIX_URL PROJECT CALLS_JSON

The run (.ci/phoenix/run.sh) is a script calling the worker `shouter` on the `test` model,
which calls the fn tool `shout`. Phoenix must hold exactly its five spans, in one trace:
the run's root (CHAIN) over the worker (AGENT), under which are two model exchanges (LLM, model
`test`) and the tool call (TOOL); the token counts of the exchanges add up to what the run
log (`llm-do logs --json`) says of the worker's call.
"""

import json
import sys
import time
import urllib.parse
import urllib.request


def fail(msg):
    print(f"phoenix tier: error: {msg}", file=sys.stderr)
    sys.exit(1)


def flat(attrs, prefix=""):
    """Phoenix may nest dotted attribute names; flatten them back."""
    out = {}
    for k, v in attrs.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flat(v, key + "."))
        else:
            out[key] = v
    return out


def spans(url, project):
    q = urllib.parse.quote(project, safe="")
    with urllib.request.urlopen(f"{url}/v1/projects/{q}/spans?limit=100", timeout=10) as r:
        return json.load(r)["data"]


def main():
    url, project, calls_path = sys.argv[1:4]
    # Phoenix ingests asynchronously: wait for the five spans.
    deadline = time.time() + 60
    got = []
    while time.time() < deadline:
        try:
            got = spans(url, project)
        except OSError:
            got = []
        if len(got) >= 5:
            break
        time.sleep(0.5)
    if len(got) != 5:
        fail(f"expected 5 spans in project {project}, got {len(got)}: {json.dumps(got)[:2000]}")
    for s in got:
        s["attributes"] = flat(s.get("attributes") or {})
    names = sorted(s["name"] for s in got)
    want = ["chat test", "chat test", "execute_tool shout", "invoke_agent shouter", "llm-do main.rhai"]
    if names != want:
        fail(f"span names {names}, expected {want}")
    traces = {s["context"]["trace_id"] for s in got}
    if len(traces) != 1:
        fail(f"spans in {len(traces)} traces: {traces}")
    one = lambda name: next(s for s in got if s["name"] == name)
    root, agent, tool = one("llm-do main.rhai"), one("invoke_agent shouter"), one("execute_tool shout")
    chats = [s for s in got if s["name"] == "chat test"]
    if root.get("parent_id"):
        fail(f"the root has a parent: {root['parent_id']}")
    if agent.get("parent_id") != root["context"]["span_id"]:
        fail("the worker's span is not under the run's root")
    for child in [tool] + chats:
        if child.get("parent_id") != agent["context"]["span_id"]:
            fail(f"{child['name']} is not under the worker's span")
    kinds = {s["name"]: s["span_kind"] for s in got}
    want_kinds = {"llm-do main.rhai": "CHAIN", "invoke_agent shouter": "AGENT",
                  "execute_tool shout": "TOOL", "chat test": "LLM"}
    if kinds != want_kinds:
        fail(f"span kinds {kinds}, expected {want_kinds}")
    for c in chats:
        a = c["attributes"]
        if a.get("llm.model_name") != "test" or a.get("gen_ai.request.model") != "test":
            fail(f"model of {c['name']}: {a}")
    calls = json.load(open(calls_path))
    row = next((r for r in calls if r["name"] == "shouter"), None)
    if row is None:
        fail(f"no shouter call in the run log: {calls}")
    prompt = sum(c["attributes"]["llm.token_count.prompt"] for c in chats)
    completion = sum(c["attributes"]["llm.token_count.completion"] for c in chats)
    if (prompt, completion) != (row["tokens_in"], row["tokens_out"]):
        fail(f"tokens in Phoenix {prompt}/{completion}, in the run log "
             f"{row['tokens_in']}/{row['tokens_out']}")
    a = agent["attributes"]
    if (a.get("gen_ai.usage.input_tokens"), a.get("gen_ai.usage.output_tokens")) != (prompt, completion):
        fail(f"the worker's span has other token counts: {a}")
    print(f"phoenix tier: 5 spans in one trace, model test, {prompt} in / {completion} out tokens")


main()
