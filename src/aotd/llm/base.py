"""What the planner needs from a language model, and a disk cache of its replies.

A backend turns chat messages into one reply. ``CachedBackend`` replays replies from disk so
that a planning run can be repeated (or resumed) without a server, and so that a result is
tied to the exact reply that produced it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Protocol

from aotd.errors import AotdError

Message = dict[str, str]


class LLMError(AotdError):
    """The model could not be asked: server unreachable, HTTP error, timeout, malformed reply."""


class LLMBackend(Protocol):
    name: str
    model: str

    def complete(self, messages: list[Message], *, temperature: float = 0.0, max_tokens: int = 512,
                 stop: list[str] | None = None) -> str:
        """The assistant's reply to ``messages`` (``role``/``content`` dicts)."""
        ...


class ReplyCache:
    """Replies stored one JSON file per request, under ``directory/<key[:2]>/<key>.json``.

    The key is the sha256 of (backend name, model, messages, generation parameters). Files are
    written to a temporary name and renamed, so concurrent writers and crashes never leave a
    half-written entry; an unreadable entry counts as a miss and is rewritten.
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    @staticmethod
    def key(backend: str, model: str, messages: list[Message], params: dict[str, Any]) -> str:
        blob = json.dumps({"backend": backend, "model": model, "messages": messages, "params": params},
                          sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> str | None:
        try:
            reply = json.loads(self._path(key).read_text(encoding="utf-8"))["reply"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return reply if isinstance(reply, str) else None

    def put(self, key: str, reply: str, request: dict[str, Any] | None = None) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"reply": reply, "request": request}, f, ensure_ascii=False)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def __len__(self) -> int:
        return sum(1 for _ in self.directory.glob("??/*.json"))


class CachedBackend:
    """A backend whose replies are served from ``cache`` when the same request was made before.

    Only greedy requests (temperature 0) are cached unless ``cache_sampled`` is set: caching a
    sampled reply would make every later "sample" the same text.
    """

    def __init__(self, backend: LLMBackend, cache: ReplyCache, *, cache_sampled: bool = False) -> None:
        self.backend, self.cache, self.cache_sampled = backend, cache, cache_sampled
        self.name, self.model = backend.name, backend.model
        self.hits = self.misses = 0

    def complete(self, messages: list[Message], *, temperature: float = 0.0, max_tokens: int = 512,
                 stop: list[str] | None = None) -> str:
        params = {"temperature": temperature, "max_tokens": max_tokens, "stop": stop}
        if temperature > 0 and not self.cache_sampled:
            return self.backend.complete(messages, **params)
        key = ReplyCache.key(self.name, self.model, messages, params)
        reply = self.cache.get(key)
        if reply is not None:
            self.hits += 1
            return reply
        self.misses += 1
        reply = self.backend.complete(messages, **params)
        self.cache.put(key, reply, {"backend": self.name, "model": self.model, "messages": messages, **params})
        return reply


_THINK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)


def strip_thinking(reply: str) -> str:
    """The reply without reasoning sections: ``<think>...</think>`` blocks dropped, text after a
    lone ``</think>`` kept (servers that strip the opening tag), an unclosed ``<think>`` cut off."""
    lower = reply.lower()
    if "</think>" in lower:
        reply = reply[lower.rindex("</think>") + len("</think>"):]
    reply = _THINK.sub("", reply)
    cut = reply.lower().find("<think>")
    return reply if cut < 0 else reply[:cut]
