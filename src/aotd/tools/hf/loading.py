"""Lazy, once-per-process model loading and cheap cache versions for the transformers tools.

Building a toolset must not load 7B weights (``aotd select`` lists candidates, the CLI checks
a config), so an adapter holds a ``LazyModel`` that runs ``from_pretrained`` on first use. Equal
(family, model, device, dtype) share one ``LazyModel`` per process: the Video-LLM that recognises
actions also grounds them and answers questions. ``version`` hashes the model id, the
checkpoint's config.json and the weight files' names and sizes, never the weights themselves,
so the tool cache's fingerprint of a 7B model costs a file read.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from aotd.errors import AotdError

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``auto`` (or None): the first CUDA device when there is one, else the CPU."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def resolve_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """``auto`` (or None): bfloat16 on a GPU, float32 on the CPU."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype is None or dtype == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if dtype not in DTYPES:
        raise AotdError(f"dtype {dtype!r} is not one of auto, {', '.join(DTYPES)}")
    return DTYPES[dtype]


@dataclass(frozen=True)
class ModelRef:
    """Where a candidate's weights are and how to run them; ``key`` is the config key errors name."""

    model: str
    device: str = "auto"
    dtype: str = "auto"
    key: str = "tools.models"

    @classmethod
    def of(cls, spec: Any, name: str, default_model: str | None = None) -> ModelRef:
        """From a ``ToolModelSpec`` (or anything with model/device/dtype) of candidate ``name``."""
        model = getattr(spec, "model", None) or default_model
        if not model:
            raise AotdError(f"tools.models.{name}.model: no model given; set it to a hub id or a local directory")
        model = str(Path(model).expanduser()) if str(model).startswith("~") else str(model)
        return cls(model, str(getattr(spec, "device", "auto")), str(getattr(spec, "dtype", "auto")),
                   f"tools.models.{name}")

    def torch_device(self) -> torch.device:
        return resolve_device(self.device)

    def torch_dtype(self) -> torch.dtype:
        return resolve_dtype(self.dtype, self.torch_device())

    def check_local(self) -> None:
        """A model given as a path must exist (hub ids are only checked when loaded)."""
        text = self.model
        if text.startswith(("/", "./", "../", "~")) and not Path(text).expanduser().is_dir():  # hub ids never do
            raise AotdError(f"{self.key}.model: {text} is not a directory; point it at a folder written by "
                            "save_pretrained or at a hub id")


class LazyModel:
    """A (model, processing) pair built on first ``get()``, once, whichever thread asks first."""

    def __init__(self, loader: Callable[[], tuple[Any, Any]], *, version: Callable[[], str] | str,
                 describe: str = "model") -> None:
        self._loader = loader
        self._version = version
        self._value: tuple[Any, Any] | None = None
        self._lock = threading.Lock()
        self.describe = describe
        self.loads = 0  # how many times the loader ran (1 at most)

    @classmethod
    def ready(cls, model: Any, processing: Any, version: Callable[[], str] | str | None = None) -> LazyModel:
        """An already-built pair; its version hashes the model's config and a sample of its weights."""
        lazy = cls(lambda: (model, processing), version=version or (lambda: built_version(model)),
                   describe=f"{type(model).__name__} {getattr(getattr(model, 'config', None), '_name_or_path', '')}".strip())
        lazy.get()
        lazy.loads = 0
        return lazy

    @property
    def loaded(self) -> bool:
        return self._value is not None

    def get(self) -> tuple[Any, Any]:
        if self._value is None:
            with self._lock:
                if self._value is None:
                    self._value = self._loader()
                    self.loads += 1
        return self._value

    @property
    def version(self) -> str:
        if callable(self._version):
            self._version = self._version()
        return self._version


_SHARED: dict[tuple[str, ...], LazyModel] = {}
_SHARED_LOCK = threading.Lock()


def shared(family: str, ref: ModelRef, loader: Callable[[ModelRef], tuple[Any, Any]]) -> LazyModel:
    """The process's one ``LazyModel`` of ``ref`` in ``family`` (built by ``loader(ref)`` on first use)."""
    key = (family, ref.model, str(ref.torch_device()), str(ref.torch_dtype()))
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = LazyModel(lambda: _guarded(ref, loader), version=lambda: pretrained_version(family, ref),
                                     describe=f"{family} {ref.model}")
        return _SHARED[key]


def forget_shared() -> None:
    """Drop every shared model (tests; a long-lived process switching checkpoints)."""
    with _SHARED_LOCK:
        _SHARED.clear()


def _guarded(ref: ModelRef, loader: Callable[[ModelRef], tuple[Any, Any]]) -> tuple[Any, Any]:
    try:
        return loader(ref)
    except AotdError:
        raise
    except (OSError, ValueError, KeyError, TypeError, ImportError, RuntimeError) as exc:
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise AotdError(f"{ref.key}.model: cannot load {ref.model!r} ({type(exc).__name__}: {first}); point it at "
                        "a local folder written by save_pretrained, or a hub id that is downloaded or reachable"
                        ) from exc


# --- versions ------------------------------------------------------------------------------
def pretrained_version(family: str, ref: ModelRef) -> str:
    """family + model id + dtype + config.json + the hub snapshot's commit (or a local folder's weight file
    names, sizes and times)."""
    h = hashlib.sha256(f"{family}|{ref.model}|{ref.torch_dtype()}".encode())
    config = _config_text(ref.model)
    h.update(config.encode())
    folder = Path(ref.model).expanduser()
    if folder.is_dir():
        for path in sorted(folder.rglob("*")):
            if path.suffix in WEIGHT_SUFFIXES and path.is_file():
                stat = path.stat()
                h.update(f"{path.relative_to(folder)}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    return f"{ref.model}@{h.hexdigest()[:12]}"


def built_version(model: Any) -> str:
    """An in-memory model: its class, config and the first values of every parameter (cheap even at 7B)."""
    h = hashlib.sha256(type(model).__qualname__.encode())
    config = getattr(model, "config", None)
    if config is not None:
        h.update(config.to_json_string(use_diff=False).encode())
    with torch.no_grad():
        for name, param in model.named_parameters():
            head = param.detach().reshape(-1)[:8].float().cpu().numpy().tobytes()
            h.update(name.encode())
            h.update(head)
    name = getattr(config, "_name_or_path", "") or type(model).__name__
    return f"{name}@{h.hexdigest()[:12]}"


def settings_version(base: str, settings: dict[str, Any]) -> str:
    """``base`` plus a hash of an adapter's own settings (threshold, labels, prompt)."""
    blob = json.dumps(settings, sort_keys=True, default=str)
    return f"{base}+{hashlib.sha256(blob.encode()).hexdigest()[:8]}"


def _config_text(model: str) -> str:
    from transformers.utils import cached_file

    try:
        path = cached_file(model, "config.json", local_files_only=True,  # never the network: a version is cheap
                           _raise_exceptions_for_missing_entries=False)
    except (OSError, ValueError):
        path = None
    if not path:
        return ""
    file = Path(path)  # a hub download is <cache>/models--org--name/snapshots/<commit>/config.json, a symlink
    commit = file.parent.name if file.parent.parent.name == "snapshots" else ""  # into blobs/: never resolve it
    return f"{commit}|{file.read_text(encoding='utf-8')}"
