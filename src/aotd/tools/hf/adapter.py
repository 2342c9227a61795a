"""The construction every pixel-reading transformers tool shares.

An adapter is built either from an already-built ``(model, processor)`` pair (tests, the GPU
benchmark's random full-size models) or lazily from a checkpoint (``from_pretrained`` /
``from_ref``: nothing is read until the first call). ``processor`` may be a ``Processing``, a
transformers processor with ``.tokenizer`` and ``.image_processor``, or a bare tokenizer (then
the family's published image preprocessing is used).
"""

from __future__ import annotations

from typing import Any

from aotd.tools.hf.loading import LazyModel, ModelRef, settings_version, shared
from aotd.tools.hf.prep import Processing


class HFAdapter:
    family = ""  # the preprocessing family and the shared-model key (owlv2, clip, xclip, ...)

    def _bind(self, model: Any, processor: Any) -> None:
        if isinstance(model, LazyModel):
            if processor is not None:
                raise ValueError("pass a LazyModel alone, or a (model, processor) pair")
            self._lazy = model
        else:
            self._lazy = LazyModel.ready(model, Processing.coerce(processor, self.family))
        self.source = self._lazy.describe  # public: the tool cache's fingerprint of a wrapping model reads it

    @staticmethod
    def model_class() -> Any:
        raise NotImplementedError

    @classmethod
    def load_pair(cls, ref: ModelRef) -> tuple[Any, Processing]:
        """``from_pretrained`` of the weights (in ``ref``'s dtype, on its device) and of the processing."""
        model = cls.model_class().from_pretrained(ref.model, dtype=ref.torch_dtype())
        return model.to(ref.torch_device()).eval(), Processing.from_pretrained(ref.model, cls.family)

    @classmethod
    def from_ref(cls, ref: ModelRef, **kwargs: Any) -> Any:
        return cls(shared(cls.family, ref, cls.load_pair), **kwargs)

    @classmethod
    def from_pretrained(cls, model: str, *, device: str = "auto", dtype: str = "auto", **kwargs: Any) -> Any:
        """Lazy: the weights load on first use, once per process per (model, device, dtype)."""
        return cls.from_ref(ModelRef(model, device, dtype), **kwargs)

    def settings(self) -> dict[str, Any]:
        """What besides the weights changes the outputs (part of ``version``)."""
        return {}

    @property
    def version(self) -> str:
        """Cheap: model id + config hash + settings; never hashes the weights (see ``loading``)."""
        return settings_version(self._lazy.version, {"family": self.family, **self.settings()})

    @property
    def loaded(self) -> bool:
        return self._lazy.loaded

    def model_and_processing(self) -> tuple[Any, Processing]:
        model, processing = self._lazy.get()
        return model, processing

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._lazy.describe})"
