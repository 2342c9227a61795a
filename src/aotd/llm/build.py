"""One way to turn a config's (backend, model, base_url, api) into a backend, for every stage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aotd.errors import AotdError
from aotd.llm.base import CachedBackend, LLMBackend, ReplyCache


def build_backend(backend: str | None, model: str | None, base_url: str | None, *, section: str,
                  cache_dir: Path | None = None, api: str = "chat", **http: Any) -> LLMBackend:
    """The backend a config section names; replies cached under ``cache_dir`` when given.

    ``section`` ("planner", "cot") only makes the error messages point at the right keys;
    ``api`` (chat or completion) and ``http`` (``timeout_s``, ``max_retries``) go to the
    OpenAI-compatible client.
    """
    if not model:
        raise AotdError(f"{section}.model is required when {section} uses an LLM")
    if api not in ("chat", "completion"):
        raise AotdError(f"{section}.api must be chat or completion, not {api!r}")
    built: LLMBackend
    if backend == "openai":
        from aotd.llm.openai_compat import OpenAICompatibleBackend

        if not base_url:
            raise AotdError(f"{section}.base_url is required for {section}.backend: openai")
        built = OpenAICompatibleBackend(base_url, model, api=api, **http)  # type: ignore[arg-type]
    elif backend == "transformers":
        from aotd.llm.hf import TransformersBackend

        if api != "chat":
            raise AotdError(f"{section}.api: completion applies to backend openai; transformers writes its own prompt")
        built = TransformersBackend(model)
    else:
        raise AotdError(f"{section}.backend must be openai or transformers when {section} uses an LLM")
    return CachedBackend(built, ReplyCache(cache_dir)) if cache_dir is not None else built
