"""A real local OpenAI-compatible server with scripted behaviours, shared by the LLM tests.

Each request takes the next step of ``script`` (the last step repeats): "ok", "slow", "hang",
HTTP errors ("500", "429", "400"), malformed bodies ("garbage", "nochoices"), or
"reply:<text>" for a completion whose content is ``<text>``. Requests to ``/v1/completions``
get a text completion (``choices[0].text``), all others a chat completion.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aotd.llm import OpenAICompatibleBackend


def completion(text: str, path: str = "/v1/chat/completions") -> bytes:
    if path.endswith("/v1/completions"):
        return json.dumps({"id": "x", "object": "text_completion", "model": "m",
                           "choices": [{"index": 0, "text": text, "finish_reason": "stop"}]}).encode()
    return json.dumps({"id": "x", "object": "chat.completion", "model": "m",
                       "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                    "finish_reason": "stop"}]}).encode()


class FakeServer:
    """An OpenAI-compatible server that answers each request with the next scripted behaviour."""

    def __init__(self) -> None:
        self.script: list[str] = []
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.release = threading.Event()
        self.in_flight = self.max_in_flight = 0
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with fake.lock:
                    fake.requests.append({"path": self.path, **body})
                    fake.headers.append(dict(self.headers))
                    step = fake.script.pop(0) if len(fake.script) > 1 else fake.script[0]
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                try:
                    self._answer(step, self.path)
                finally:
                    with fake.lock:
                        fake.in_flight -= 1

            def _answer(self, step: str, path: str) -> None:
                if step == "hang":
                    fake.release.wait(5)
                    return
                if step == "slow":
                    time.sleep(0.1)
                if step.startswith("reply:"):
                    status, payload = 200, completion(step.removeprefix("reply:"), path)
                else:
                    status, payload = {
                        "ok": (200, completion("def execute_command(video, question, choices): ...", path)),
                        "slow": (200, completion("slow", path)),
                        "500": (500, b"overloaded"),
                        "429": (429, b"rate limited"),
                        "400": (400, b'{"error": "bad model"}'),
                        "garbage": (200, b"<html>not json"),
                        "nochoices": (200, b'{"object": "error"}'),
                    }[step]
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.01,), daemon=True)

    def backend(self, **kwargs: Any) -> OpenAICompatibleBackend:
        options = {"timeout_s": 2.0, "max_retries": 2, "backoff_s": 0.01, **kwargs}
        return OpenAICompatibleBackend(self.url, "tiny-model", **options)


@contextmanager
def running_server() -> Iterator[FakeServer]:
    """A started ``FakeServer``, shut down (hanging requests released) on exit."""
    fake = FakeServer()
    fake.thread.start()
    try:
        yield fake
    finally:
        fake.release.set()
        fake.httpd.shutdown()
        fake.httpd.server_close()
