"""A client for OpenAI-compatible servers: vLLM, llama.cpp's server, Ollama, hosted APIs.

Two APIs: ``chat`` (``/v1/chat/completions``: the server applies the model's chat template)
and ``completion`` (``/v1/completions``: for base models, or servers without a usable chat
template). A completion prompt is the plain transcript ``transcript`` renders from the
messages, and the request stops at the next ``\\nuser:`` turn the model may start writing.

Transient failures (connection errors, timeouts, 408, 429, 5xx) are retried with exponential
backoff; other 4xx answers mean the request itself is wrong and fail at once. Whatever
finally fails becomes one ``LLMError`` naming the server and the problem. A semaphore caps
the requests in flight, so planner threads can share one backend without flooding a server.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Literal, Self

import httpx

from .base import LLMError, Message

_RETRY_STATUS = frozenset({408, 429}) | frozenset(range(500, 600))
_SHOWN = 200  # characters of a bad reply quoted in an error
_MAX_STOP = 4  # stop sequences the OpenAI API accepts per request
TURN_STOP = "\nuser:"  # where a completion model starts writing the next user turn itself

API = Literal["chat", "completion"]


def transcript(messages: list[Message]) -> str:
    """The completion prompt for ``messages``: one ``role: content`` block per message, a blank
    line between blocks, ending in ``assistant:`` for the model to continue.

    >>> transcript([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}])
    'system: Be brief.\\n\\nuser: Hi\\n\\nassistant:'
    """
    return "\n\n".join([*(f"{m['role']}: {m['content']}" for m in messages), "assistant:"])


class OpenAICompatibleBackend:
    """``api`` "chat" posts ``messages``; "completion" posts ``transcript(messages)`` as the
    prompt and reads ``choices[0].text``. Both share the retries, timeouts and errors."""

    def __init__(self, base_url: str, model: str, api_key: str | None = None, timeout_s: float = 60,
                 max_retries: int = 3, backoff_s: float = 1.0, max_concurrency: int = 4, api: API = "chat") -> None:
        if max_retries < 0 or max_concurrency < 1 or timeout_s <= 0:
            raise LLMError("max_retries must be >= 0, max_concurrency >= 1 and timeout_s > 0")
        if api not in ("chat", "completion"):
            raise LLMError(f"api must be chat or completion, not {api!r}")
        base = base_url.rstrip("/")
        path = "chat/completions" if api == "chat" else "completions"
        self.url = f"{base}/{path}" if base.endswith("/v1") else f"{base}/v1/{path}"
        self.api = api
        # the name goes into cache keys and planner names: a completion reply is not a chat reply
        self.name = "openai" if api == "chat" else "openai-completion"
        self.model, self.max_retries, self.backoff_s = model, max_retries, backoff_s
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(timeout=httpx.Timeout(timeout_s), headers=headers)
        self._slots = threading.BoundedSemaphore(max_concurrency)

    def complete(self, messages: list[Message], *, temperature: float = 0.0, max_tokens: int = 512,
                 stop: list[str] | None = None) -> str:
        body: dict[str, Any] = {"model": self.model, "temperature": temperature, "max_tokens": max_tokens}
        if self.api == "chat":
            body["messages"] = messages
        else:
            body["prompt"] = transcript(messages)
            stop = list(stop or [])
            if TURN_STOP not in stop and len(stop) < _MAX_STOP:
                stop.append(TURN_STOP)
        if stop:
            body["stop"] = stop
        with self._slots:
            return self._parse(self._post(body))

    def _post(self, body: dict[str, Any]) -> httpx.Response:
        problem = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                response = self._client.post(self.url, json=body)
            except httpx.TimeoutException as exc:
                problem = f"timed out ({type(exc).__name__})"
                continue
            except httpx.TransportError as exc:
                problem = f"cannot be reached ({type(exc).__name__}: {exc})"
                continue
            if response.status_code < 400:
                return response
            problem = f"answered HTTP {response.status_code}: {response.text[:_SHOWN]!r}"
            if response.status_code not in _RETRY_STATUS:
                raise LLMError(f"LLM server {self.url} {problem}")
        raise LLMError(f"LLM server {self.url} {problem} (after {self.max_retries + 1} attempts)")

    def _parse(self, response: httpx.Response) -> str:
        try:
            data = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise LLMError(f"LLM server {self.url} sent a reply that is not JSON: {response.text[:_SHOWN]!r}") from None
        where = "choices[0].message.content" if self.api == "chat" else "choices[0].text"
        try:
            choice = data["choices"][0]
            content = choice["message"]["content"] if self.api == "chat" else choice["text"]
        except (KeyError, IndexError, TypeError):
            raise LLMError(f"LLM server {self.url} sent JSON without {where}: {json.dumps(data)[:_SHOWN]}") from None
        if not isinstance(content, str):
            raise LLMError(f"LLM server {self.url} sent a {where} that is {type(content).__name__}, not text")
        return content

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
