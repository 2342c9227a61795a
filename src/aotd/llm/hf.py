"""A local ``transformers`` causal LM as a planner backend (the optional ``hf`` extra).

The model loads on the first request, not at construction, so building a planner is cheap and
a missing model is reported when it is first needed. Tokenizers without a chat template (base
models, home-made test models) get a plain ``role: content`` transcript instead.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from .base import LLMError, Message


class TransformersBackend:
    name = "hf"

    def __init__(self, model_name_or_path: str | Path, device: str = "cpu", dtype: str | None = None) -> None:
        self.model = str(model_name_or_path)
        self.device, self.dtype = device, dtype
        self._loaded: tuple[Any, Any] | None = None
        self._lock = threading.Lock()  # one load, and one generate at a time on the shared model

    def _load(self) -> tuple[Any, Any]:
        if self._loaded is None:
            try:
                import torch
                from transformers import AutoModelForCausalLM, AutoTokenizer
            except ImportError as exc:
                raise LLMError(f"the hf backend needs transformers ({exc}); install aotd[hf]") from None
            try:
                tokenizer = AutoTokenizer.from_pretrained(self.model)
                dtype = getattr(torch, self.dtype) if self.dtype else None
                model = AutoModelForCausalLM.from_pretrained(self.model, dtype=dtype).to(self.device).eval()
            except (OSError, ValueError, AttributeError) as exc:
                raise LLMError(f"cannot load model {self.model!r}: {exc}") from None
            self._loaded = (tokenizer, model)
        return self._loaded

    def prompt(self, messages: list[Message]) -> str:
        """The text the model continues: its chat template, else a ``role: content`` transcript."""
        tokenizer, _ = self._load()
        if getattr(tokenizer, "chat_template", None):
            return str(tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False))
        lines = [f"{m['role']}: {m['content']}" for m in messages]
        return "\n".join([*lines, "assistant:"])

    def complete(self, messages: list[Message], *, temperature: float = 0.0, max_tokens: int = 512,
                 stop: list[str] | None = None) -> str:
        import torch

        with self._lock:
            tokenizer, model = self._load()
            text = self.prompt(messages)
            # a chat template already writes the BOS token; adding it again degrades some models
            inputs = tokenizer(text, return_tensors="pt", add_special_tokens=not tokenizer.chat_template).to(self.device)
            sampling: dict[str, Any] = {"do_sample": temperature > 0}
            if temperature > 0:
                sampling["temperature"] = temperature
            pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
            with torch.no_grad():
                output = model.generate(**inputs, max_new_tokens=max_tokens, pad_token_id=pad, **sampling)
        reply = tokenizer.decode(output[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
        for s in stop or []:
            reply = reply.split(s, 1)[0]
        return reply
