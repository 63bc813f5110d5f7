"""Call an llm-do project from Python, and give its workers Python tools.

    import llm_do
    p = llm_do.Project("path/to/project")

    @p.fn
    def sanitize_filename(name: str) -> str:
        \"\"\"Remove special characters from a filename.\"\"\"
        ...

    p.call("sanitize_filename", {"name": "My File.txt"})   # a Python fn
    p.call("file_organizer", {"input": "My File.txt"})     # a worker, called the same way
    await p.acall("file_organizer", "My File.txt")         # from asyncio

See docs/python.md.
"""

from __future__ import annotations

import inspect
import typing
from typing import Any, Callable, Optional, TypeVar

from ._errors import Aborted, CallError, Error, Interrupted, UsageError
from ._llm_do import Chat, __version__
from ._llm_do import Project as _NativeProject

__all__ = [
    "Project",
    "Chat",
    "Error",
    "UsageError",
    "CallError",
    "Aborted",
    "Interrupted",
    "schema_of",
    "__version__",
]

F = TypeVar("F", bound=Callable[..., Any])

_JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean", list: "array", dict: "object"}


def _json_type(hint: Any) -> dict[str, Any]:
    origin = typing.get_origin(hint) or hint
    if origin is typing.Literal:
        return {"type": "string", "enum": [str(a) for a in typing.get_args(hint)]}
    if origin in _JSON_TYPES:
        out: dict[str, Any] = {"type": _JSON_TYPES[origin]}
        args = typing.get_args(hint)
        if origin is list and args:
            out["items"] = _json_type(args[0])
        return out
    return {}


def schema_of(func: Callable[..., Any]) -> tuple[str, dict[str, Any]]:
    """The description (the docstring) and the JSON Schema of the arguments (the type hints)
    a model sees for `func`."""
    hints = typing.get_type_hints(func)
    props: dict[str, Any] = {}
    for name, param in inspect.signature(func).parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise TypeError(f"`{func.__name__}`: *args and **kwargs cannot be described to a model")
        props[name] = _json_type(hints.get(name, Any))
    schema = {
        "type": "object",
        "properties": props,
        "required": list(props),
        "additionalProperties": False,
    }
    return inspect.getdoc(func) or "", schema


class Project(_NativeProject):
    """An llm-do project: `Project(path=".", *, model=None, log=True)`.

    It is loaded at its first use (a call), so fns registered before then may be named in
    workers' `toolsets:` and `[stabilize]`. Use it as a context manager, or call `close()`,
    to close the run log."""

    def fn(self, func: Optional[F] = None, *, name: Optional[str] = None) -> Any:
        """Register a Python function as a fn of the project (`@p.fn` or `@p.fn(name=...)`):
        reachable by `call()` in Rhai, by a worker's model as a tool and as the code side of
        `[stabilize]`. Its docstring and type hints are what the model sees."""

        def register(f: F) -> F:
            description, schema = schema_of(f)
            self._register(name or f.__name__, description, schema, f)
            return f

        return register(func) if func is not None else register

    def policy(self, func: F) -> F:
        """Register `func(request) -> "approve" | "reject" | "prompt" | None` as the project's
        approval policy (the `approve` fn): it sees every tool call a model asks for."""
        self._register("approve", inspect.getdoc(func) or "", {
            "type": "object",
            "properties": {"request": {"type": "object"}},
            "required": ["request"],
            "additionalProperties": False,
        }, lambda request: func(request))
        return func

    def prompter(self, func: F) -> F:
        """Ask approvals of `func(request)` (instead of a terminal): it answers "approve" or
        True, "session", "quit", "reject", or a reason to deny."""
        self._set_prompter(func)
        return func
