"""Language-model backends for the planner: an OpenAI-compatible HTTP client, local
``transformers`` models, and a disk cache of replies."""

from .base import CachedBackend, LLMBackend, LLMError, Message, ReplyCache
from .openai_compat import OpenAICompatibleBackend

__all__ = ["CachedBackend", "LLMBackend", "LLMError", "Message", "OpenAICompatibleBackend", "ReplyCache"]
