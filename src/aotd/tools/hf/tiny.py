"""Random tool models built from configs: tiny ones for offline tests, full-size ones for the GPU benchmark.

Nothing can be downloaded here, so every model is built from a config with random weights and
every tokenizer from a vocabulary written in code: a byte-level CLIP BPE (every byte and every
byte ending a word, no merges: any text encodes, the end-of-text token has the highest id as
OWL-ViT and X-CLIP's pooling needs) and a WordPiece BERT vocabulary whose special tokens sit at
bert-base-uncased's ids (Grounding DINO hard-codes [CLS]=101, [SEP]=102, "."=1012, "?"=1029).

``build(family, shapes, ...)`` makes one (model, ``Processing``) pair: ``tiny(family)`` uses
``TINY`` (hidden 32, one or two layers, 32-128 px frames; a forward pass takes milliseconds on a CPU),
``full_size(family)`` the published checkpoint's shapes (``FULL``) and image sizes.
``save_pair`` writes a folder ``from_pretrained`` reads (config, weights, tokenizer,
preprocessor_config.json), so tests exercise the real loading path. ``video_llm`` builds the
Video-LLM tool's ``HFStudent`` the same two ways.
"""

from __future__ import annotations

import string
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from aotd.tools.hf.prep import ImagePrep, Processing

Dims = dict[str, Any]
FAMILIES = ("owl-vit", "owlv2", "grounding-dino", "xclip", "clip")

_TINY_TEXT: Dims = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4)
_TINY_VIT: Dims = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                       image_size=32, patch_size=8)

# Per family: text / vision (backbone) / top-level config dims. {} keeps transformers' defaults,
# which are the base checkpoints' shapes unless overridden here.
TINY: dict[str, dict[str, Dims]] = {
    "owl-vit": dict(text=dict(_TINY_TEXT, max_position_embeddings=16), vision=_TINY_VIT,
                    top=dict(projection_dim=32)),
    "owlv2": dict(text=dict(_TINY_TEXT, max_position_embeddings=16), vision=_TINY_VIT, top=dict(projection_dim=32)),
    "grounding-dino": dict(
        text=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4,
                  max_position_embeddings=64),
        vision=dict(embed_dim=8, depths=[1, 1, 1, 1], num_heads=[1, 1, 1, 1], window_size=2, image_size=64),
        top=dict(d_model=32, encoder_layers=1, decoder_layers=2, encoder_ffn_dim=64, decoder_ffn_dim=64,
                 encoder_attention_heads=2, decoder_attention_heads=2, num_queries=10, max_text_len=32,
                 encoder_n_points=2, decoder_n_points=2)),
    "xclip": dict(text=dict(_TINY_TEXT, max_position_embeddings=77),
                  vision=dict(_TINY_VIT, num_frames=4, mit_hidden_size=32, mit_intermediate_size=64,
                              mit_num_attention_heads=4),
                  top=dict(projection_dim=32, prompt_layers=1, prompt_num_attention_heads=4)),
    "clip": dict(text=dict(_TINY_TEXT, max_position_embeddings=77), vision=_TINY_VIT, top=dict(projection_dim=32)),
}
TINY_PREP: dict[str, ImagePrep] = {  # frames go to the tiny towers' 32 px (Grounding DINO: 80 px short side)
    "owl-vit": replace(ImagePrep.default("owl-vit"), height=32, width=32),
    "owlv2": replace(ImagePrep.default("owlv2"), height=32, width=32),
    "grounding-dino": replace(ImagePrep.default("grounding-dino"), height=80, width=80, shortest_edge=80,
                              longest_edge=128),  # its fourth feature level must keep more than one pixel
    "xclip": replace(ImagePrep.default("xclip"), height=32, width=32, shortest_edge=32),
    "clip": replace(ImagePrep.default("clip"), height=32, width=32, shortest_edge=32),
}
FULL: dict[str, dict[str, Dims]] = {
    "owl-vit": dict(text={}, vision={}, top={}),  # google/owlvit-base-patch32 = transformers' defaults
    "owlv2": dict(text={}, vision=dict(image_size=960), top={}),  # google/owlv2-base-patch16(-ensemble)
    "grounding-dino": dict(text={}, vision={}, top={}),  # IDEA-Research/grounding-dino-tiny (Swin-T + BERT-base)
    "xclip": dict(text={}, vision={}, top={}),  # microsoft/xclip-base-patch32 (8 frames)
    "clip": dict(  # openai/clip-vit-large-patch14
        text=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12),
        vision=dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                    image_size=224, patch_size=14),
        top=dict(projection_dim=768)),
}
CLASSES = {"owl-vit": "OwlViTForObjectDetection", "owlv2": "Owlv2ForObjectDetection",
           "grounding-dino": "GroundingDinoForObjectDetection", "xclip": "XCLIPModel", "clip": "CLIPModel"}


# --- tokenizers ----------------------------------------------------------------------------
def clip_tokenizer() -> Any:
    """Byte-level CLIP BPE without merges: 512 byte tokens, then <|startoftext|>, <|endoftext|> (the highest id)."""
    from transformers import CLIPTokenizer
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    chars = list(bytes_to_unicode().values())
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": len(chars) + i for i, c in enumerate(chars)})
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[])


def bert_tokenizer() -> Any:
    """Lower-case WordPiece over letters, digits and punctuation, specials at bert-base-uncased's ids."""
    from transformers import BertTokenizer

    fixed = {0: "[PAD]", 100: "[UNK]", 101: "[CLS]", 102: "[SEP]", 103: "[MASK]", 1012: ".", 1029: "?"}
    pieces = [c for c in string.ascii_lowercase + string.digits + string.punctuation if c not in ".?"]
    pieces += ["##" + c for c in string.ascii_lowercase + string.digits]
    tokens = [fixed.get(i) for i in range(1030)]
    free = iter(pieces)
    for i in range(104, 1012):
        tokens[i] = next(free, f"[unused{i}]")
    vocab = {t if t is not None else f"[unused{i}]": i for i, t in enumerate(tokens)}
    return BertTokenizer(vocab=vocab)


# --- configs and models --------------------------------------------------------------------
def config(family: str, shapes: dict[str, Dims], tokenizer: Any, *, tiny_vocab: bool) -> Any:
    """The family's transformers config from ``shapes`` (text / vision / top dims) and the tokenizer's ids."""
    import transformers

    text, vision, top = dict(shapes.get("text", {})), dict(shapes.get("vision", {})), dict(shapes.get("top", {}))
    if tiny_vocab:
        text["vocab_size"] = len(tokenizer)
    if family == "grounding-dino":
        text.update(pad_token_id=tokenizer.pad_token_id)
        return transformers.GroundingDinoConfig(
            backbone_config=dict(model_type="swin", out_indices=[2, 3, 4], **vision),
            text_config=dict(model_type="bert", **text), **top)
    text.update(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id)
    config_class = {"owl-vit": transformers.OwlViTConfig, "owlv2": transformers.Owlv2Config,
                    "xclip": transformers.XCLIPConfig, "clip": transformers.CLIPConfig}[family]
    return config_class(text_config=text, vision_config=vision, **top)


@contextmanager
def _seeded(seed: int) -> Iterator[None]:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def build(family: str, shapes: dict[str, Dims], prep: ImagePrep, *, seed: int = 0, tiny_vocab: bool = True,
          device: str | torch.device | None = None, dtype: torch.dtype | None = None) -> tuple[Any, Processing]:
    """A random (model, Processing) of ``family`` with ``shapes``, in eval mode, on ``device`` in ``dtype``."""
    import transformers

    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; known: {', '.join(FAMILIES)}")
    tokenizer = bert_tokenizer() if family == "grounding-dino" else clip_tokenizer()
    cfg = config(family, shapes, tokenizer, tiny_vocab=tiny_vocab)
    model_class = getattr(transformers, CLASSES[family])
    with _seeded(seed), torch.device(device or "cpu"):
        model = model_class._from_config(cfg, dtype=dtype) if dtype is not None else model_class(cfg)
    return model.eval(), Processing(tokenizer, prep, family)


def tiny(family: str, *, seed: int = 0, device: str | torch.device | None = None,
         dtype: torch.dtype | None = None) -> tuple[Any, Processing]:
    """A tiny random instance (hidden 32, 1-2 layers, 32-128 px input) and its processing."""
    return build(family, TINY[family], TINY_PREP[family], seed=seed, device=device, dtype=dtype)


def full_size(family: str, *, seed: int = 0, device: str | torch.device | None = None,
              dtype: torch.dtype | None = None) -> tuple[Any, Processing]:
    """A random instance with the published checkpoint's shapes and image preprocessing (GPU benchmark)."""
    return build(family, FULL[family], ImagePrep.default(family), seed=seed, tiny_vocab=False, device=device,
                 dtype=dtype)


def save_pair(model: Any, processing: Processing, directory: str | Path) -> Path:
    """config.json + weights + tokenizer + preprocessor_config.json: a folder ``from_pretrained`` reads."""
    directory = Path(directory)
    model.save_pretrained(directory)
    processing.save_pretrained(directory)
    return directory


def video_llm(arch: str = "llava-next-video", *, full: bool = False, seed: int = 0, num_frames: int = 32,
              device: str | torch.device | None = None, dtype: torch.dtype | None = None) -> Any:
    """The Video-LLM tool's ``HFStudent``: tiny (hidden 32, 16 px frames) or with the 7B shapes, random weights."""
    from aotd.models.hf import HFStudent, tiny_hf_student
    from aotd.models.hf.arch import arch_spec, default_prep
    from aotd.models.hf.configs import SEVEN_B, build_config, tiny_tokenizer, token_ids

    if not full:
        student = tiny_hf_student(arch, seed=seed, num_frames=num_frames)
        if device is not None or dtype is not None:
            student.model.to(device=device, dtype=dtype)
        student.model.requires_grad_(False)
        return student
    spec = arch_spec(arch)
    tokenizer = tiny_tokenizer(spec)
    text, vision = SEVEN_B[arch]
    cfg = build_config(spec, dict(text), vision, token_ids(tokenizer, spec.specials))
    with _seeded(seed), torch.device(device or "cpu"):
        model = spec.cls._from_config(cfg, dtype=dtype or torch.bfloat16)
    model.requires_grad_(False)
    return HFStudent(spec, model, tokenizer, default_prep(spec, cfg), max_length=16384, num_frames=num_frames,
                     name=f"{arch}-7b-random")
