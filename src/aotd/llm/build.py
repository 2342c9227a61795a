"""One way to turn an ``LLMConfig`` into a backend, for every stage."""

from __future__ import annotations

from pathlib import Path

from aotd.config import LLMConfig
from aotd.errors import AotdError
from aotd.llm.base import CachedBackend, LLMBackend, ReplyCache


def build_backend(llm: LLMConfig, *, section: str, cache_dir: Path | None = None) -> LLMBackend:
    """The backend an ``LLMConfig`` names; replies cached under ``cache_dir`` when given.

    ``section`` ("planner", "cot", "eval.judge") only makes the error messages point at the right
    keys; ``api``, ``timeout_s`` and ``max_retries`` go to the OpenAI-compatible client.
    """
    backend, model, base_url, api = llm.backend, llm.model, llm.base_url, llm.api
    if not model:
        raise AotdError(f"{section}.model is required when {section} uses an LLM")
    if api not in ("chat", "completion"):
        raise AotdError(f"{section}.api must be chat or completion, not {api!r}")
    built: LLMBackend
    if backend == "openai":
        from aotd.llm.openai_compat import OpenAICompatibleBackend

        if not base_url:
            raise AotdError(f"{section}.base_url is required for {section}.backend: openai")
        built = OpenAICompatibleBackend(base_url, model, api=api, timeout_s=llm.timeout_s,  # type: ignore[arg-type]
                                        max_retries=llm.max_retries)
    elif backend == "transformers":
        from aotd.llm.hf import TransformersBackend

        if api != "chat":
            raise AotdError(f"{section}.api: completion applies to backend openai; transformers writes its own prompt")
        built = TransformersBackend(model)
    else:
        raise AotdError(f"{section}.backend must be openai or transformers when {section} uses an LLM")
    return CachedBackend(built, ReplyCache(cache_dir)) if cache_dir is not None else built
