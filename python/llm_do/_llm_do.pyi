"""Type stubs of the native module `llm_do._llm_do` (use it through `llm_do`)."""

from os import PathLike
from typing import Any, Awaitable, Callable, Optional, Union

__version__: str

#: What crosses into and out of llm-do: JSON values.
Json = Union[None, bool, int, float, str, list["Json"], dict[str, "Json"]]

class Chat:
    """A conversation with one worker."""

    def send(self, text: str) -> Json:
        """Send `text` as the next turn and return the worker's answer."""

class Project:
    """An llm-do project, loaded at its first use."""

    def __init__(
        self,
        path: Union[str, PathLike[str]] = ".",
        *,
        model: Optional[str] = None,
        log: bool = True,
    ) -> None: ...
    @property
    def root(self) -> str: ...
    def call(self, name: str, input: Json = None) -> Json:
        """Call `name` (a worker, fn, Python fn, builtin) with `input` and return its output.
        Ctrl-C cancels the call tree and raises `KeyboardInterrupt`."""
    def acall(self, name: str, input: Json = None) -> Awaitable[Json]:
        """`call` from asyncio; cancelling the task cancels the call tree."""
    def run_script(self, path: Union[str, PathLike[str]], args: list[str] = ...) -> Json:
        """Run a Rhai script with `args` and return its value."""
    def test(self, name: str, repeat: int = 1) -> dict[str, Any]:
        """Run the cases of `name` and return the report (`llm-do test --json`)."""
    def chat(self, worker: str) -> Chat:
        """A conversation with `worker`."""
    def reload(self) -> None:
        """Load the project from disk again; registered Python fns stay."""
    def close(self) -> None:
        """Wait for work running beside finished calls and close the run log."""
    def __enter__(self) -> "Project": ...
    def __exit__(self, *exc: object) -> bool: ...
    def _register(
        self, name: str, description: str, schema: dict[str, Any], func: Callable[..., Any]
    ) -> None: ...
    def _set_prompter(self, func: Callable[[dict[str, Any]], Any]) -> None: ...
