"""What the runner runs: a ``Stage`` maps one item to one record. Shared by the local
executors (``core``) and Ray's (``ray_executor``), which both sit above it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

Result = tuple[str, dict[str, float]]  # (record as one JSON line, timings)


class Stage(Protocol):
    """A step that maps one item to one record. Must be picklable: heavy state is built in
    ``setup``, once per worker process or actor, never in ``__init__``."""

    name: str
    fingerprint: str  # the config digest every record carries as provenance["config"]

    def key(self, item: Any) -> str: ...

    def setup(self) -> None: ...

    def process(self, item: Any) -> Result:
        """The record for ``item``; a problem of this item is recorded in it, not raised."""
        ...

    def failed(self, item: Any, reason: str) -> str:
        """A failure record for ``item`` when ``process`` itself broke (a bug, a dead worker).

        A stage may also define ``group(item) -> str``: items of one group (the questions of a
        video) are then processed one after another by one worker, so that what the stage keeps
        per group (decoded frames, per-frame tool outputs) is computed once."""
        ...


Emit = Callable[..., None]  # (item, result, crashed=False): a finished item goes to the output


def guarded(stage: Stage, item: Any) -> tuple[Result, bool]:
    """``stage.process(item)`` and False; a failure record and True when it raised."""
    try:
        return stage.process(item), False
    except Exception as exc:  # noqa: BLE001 - a bug must not stop the run; the record says what broke
        return (stage.failed(item, f"{type(exc).__name__}: {exc}"), {}), True
