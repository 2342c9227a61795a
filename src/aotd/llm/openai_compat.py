"""A client for OpenAI-compatible chat servers: vLLM, llama.cpp's server, Ollama, hosted APIs.

Transient failures (connection errors, timeouts, 429, 5xx) are retried with exponential
backoff; other 4xx answers mean the request itself is wrong and fail at once. Whatever
finally fails becomes one ``LLMError`` naming the server and the problem. A semaphore caps
the requests in flight, so planner threads can share one backend without flooding a server.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Self

import httpx

from .base import LLMError, Message

_RETRY_STATUS = frozenset({408, 429}) | frozenset(range(500, 600))
_SHOWN = 200  # characters of a bad reply quoted in an error


class OpenAICompatibleBackend:
    name = "openai"

    def __init__(self, base_url: str, model: str, api_key: str | None = None, timeout_s: float = 60,
                 max_retries: int = 3, backoff_s: float = 1.0, max_concurrency: int = 4) -> None:
        if max_retries < 0 or max_concurrency < 1 or timeout_s <= 0:
            raise LLMError("max_retries must be >= 0, max_concurrency >= 1 and timeout_s > 0")
        base = base_url.rstrip("/")
        self.url = f"{base}/chat/completions" if base.endswith("/v1") else f"{base}/v1/chat/completions"
        self.model, self.max_retries, self.backoff_s = model, max_retries, backoff_s
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(timeout=httpx.Timeout(timeout_s), headers=headers)
        self._slots = threading.BoundedSemaphore(max_concurrency)

    def complete(self, messages: list[Message], *, temperature: float = 0.0, max_tokens: int = 512,
                 stop: list[str] | None = None) -> str:
        body: dict[str, Any] = {"model": self.model, "messages": messages, "temperature": temperature,
                                "max_tokens": max_tokens}
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
        try:
            content = data["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise LLMError(f"LLM server {self.url} sent JSON without choices[0].message.content: "
                           f"{json.dumps(data)[:_SHOWN]}") from None
        if not isinstance(content, str):
            raise LLMError(f"LLM server {self.url} sent a message whose content is {type(content).__name__}, not text")
        return content

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
