"""llm-do's errors as Python exceptions, with the fields of the CLI's `--error-format json`."""

from __future__ import annotations

import json
from typing import Any, Optional


class Error(Exception):
    """An llm-do error. Its fields are those `llm-do --error-format json` writes."""

    #: The exit code the CLI would end with (2 usage, 1 runtime, 3 aborted, 130 interrupted).
    code: int = 1

    def __init__(self, fields: dict[str, Any]):
        super().__init__(fields.get("error", ""))
        self.fields = fields
        self.error: str = fields.get("error", "")
        self.causes: list[str] = fields.get("causes", [])
        self.help: Optional[str] = fields.get("help")
        self.location: Optional[dict[str, Any]] = fields.get("location")
        self.related: list[dict[str, Any]] = fields.get("related", [])
        self.code = fields.get("code", type(self).code)


class UsageError(Error):
    """A name that is not in the project, a project that does not load, a bad argument."""

    code = 2


class CallError(Error):
    """A call that ran and failed (a tool, a worker, a script, a budget)."""

    code = 1


class Aborted(Error):
    """A run aborted at an approval prompt (the prompt answered "quit")."""

    code = 3


class Interrupted(Error, KeyboardInterrupt):
    """The call tree was cancelled (Ctrl-C)."""

    code = 130


_BY_CODE = {2: UsageError, 1: CallError, 3: Aborted, 130: Interrupted}


def from_json(text: str) -> Error:
    """The exception for one `--error-format json` object (called by the native module)."""
    fields = json.loads(text)
    return _BY_CODE.get(fields.get("code", 1), Error)(fields)
