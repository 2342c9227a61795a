"""What differs between the transformers student families: chat layout, video tokens, modules.

One ``ArchSpec`` per family holds everything ``HFStudent`` branches on, so the student itself
is written once. Chat layouts are the ones each model was instruction-tuned with (Vicuna v1
"USER: ... ASSISTANT:" for LLaVA-NeXT-Video, ChatML for the Qwen2-based ones), written out rather
than taken from a checkpoint's Jinja template so that the prompt/target split is exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import transformers

from aotd.models.hf.vision import CLIP_MEAN, CLIP_STD, HALF, VideoPrep

SYSTEM = "You are a helpful assistant."
CHATML_HEAD = f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n"
CHATML_TAIL = "<|im_end|>\n<|im_start|>assistant\n"


@dataclass(frozen=True)
class ChatLayout:
    """``[bos] head + video + between + prompt + tail``, then the target and ``end``.

    ``video`` is one special token that ``encode`` expands into the video's feature count.
    """

    head: str
    video: str
    between: str
    tail: str
    end: str  # ends the assistant turn; trained as part of the target, and the stop token
    bos: bool = False

    def text(self, prompt: str) -> str:
        return self.head + self.video + self.between + prompt + self.tail


@dataclass(frozen=True)
class ArchSpec:
    name: str
    model_type: str  # transformers' config.model_type
    model_class: str  # in the transformers namespace
    layout: ChatLayout
    specials: tuple[str, ...]  # special tokens of the family: a tiny tokenizer's, and banned in prompt text
    pad: str
    vision_prefixes: tuple[str, ...]  # parameter names of the vision encoder (frozen)
    projector_prefixes: tuple[str, ...]  # vision -> LM glue, trained in full fine-tuning
    qwen: bool  # pixel patches + grid + M-RoPE token types, rather than (B, T, 3, S, S) frames

    @property
    def cls(self) -> type[Any]:
        return getattr(transformers, self.model_class)


LLAVA_SPECIALS = ("<unk>", "<s>", "</s>", "<video>", "<image>", "<pad>")
CHATML_SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
QWEN_VISION = ("<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>")
QWEN_LAYOUT = ChatLayout(head=CHATML_HEAD + "<|vision_start|>", video="<|video_pad|>", between="<|vision_end|>",
                         tail=CHATML_TAIL, end="<|im_end|>")

ARCHS: dict[str, ArchSpec] = {
    "llava-next-video": ArchSpec(
        name="llava-next-video", model_type="llava_next_video", model_class="LlavaNextVideoForConditionalGeneration",
        layout=ChatLayout(head="USER: ", video="<video>", between="\n", tail=" ASSISTANT:", end="</s>", bos=True),
        specials=LLAVA_SPECIALS, pad="<pad>",
        vision_prefixes=("model.vision_tower.",),
        projector_prefixes=("model.multi_modal_projector.", "model.image_newline", "model.vision_resampler."),
        qwen=False),
    "llava-onevision": ArchSpec(
        name="llava-onevision", model_type="llava_onevision", model_class="LlavaOnevisionForConditionalGeneration",
        layout=ChatLayout(head=CHATML_HEAD, video="<video>", between="\n", tail=CHATML_TAIL, end="<|im_end|>"),
        specials=CHATML_SPECIALS + ("<image>", "<video>"), pad="<|endoftext|>",
        vision_prefixes=("model.vision_tower.",),
        projector_prefixes=("model.multi_modal_projector.", "model.image_newline"),
        qwen=False),
    "qwen2-vl": ArchSpec(
        name="qwen2-vl", model_type="qwen2_vl", model_class="Qwen2VLForConditionalGeneration",
        layout=QWEN_LAYOUT, specials=CHATML_SPECIALS + QWEN_VISION, pad="<|endoftext|>",
        vision_prefixes=("model.visual.",), projector_prefixes=("model.visual.merger.",), qwen=True),
    "qwen2.5-vl": ArchSpec(
        name="qwen2.5-vl", model_type="qwen2_5_vl", model_class="Qwen2_5_VLForConditionalGeneration",
        layout=QWEN_LAYOUT, specials=CHATML_SPECIALS + QWEN_VISION, pad="<|endoftext|>",
        vision_prefixes=("model.visual.",), projector_prefixes=("model.visual.merger.",), qwen=True),
}
BY_MODEL_TYPE = {spec.model_type: spec for spec in ARCHS.values()}


def arch_spec(arch: str) -> ArchSpec:
    if arch not in ARCHS:
        raise ValueError(f"unknown student architecture {arch!r}; expected one of {sorted(ARCHS)}")
    return ARCHS[arch]


def spec_for_config(config: Any) -> ArchSpec:
    spec = BY_MODEL_TYPE.get(getattr(config, "model_type", ""))
    if spec is None:
        raise ValueError(f"model_type {config.model_type!r} is not a supported student; "
                         f"expected one of {sorted(BY_MODEL_TYPE)}")
    return spec


def default_prep(spec: ArchSpec, config: Any, preprocessor: dict[str, Any] | None = None) -> VideoPrep:
    """The student's pixel recipe from its model config (sizes) and processor config (mean/std)."""
    vision = config.vision_config
    pre = preprocessor or {}
    if spec.name == "llava-next-video":
        base = VideoPrep(resize="crop", size=vision.image_size, mean=CLIP_MEAN, std=CLIP_STD)
    elif spec.name == "llava-onevision":
        base = VideoPrep(resize="square", size=vision.image_size, mean=HALF, std=HALF)
    else:
        base = VideoPrep(resize="qwen", mean=CLIP_MEAN, std=CLIP_STD, patch_size=vision.patch_size,
                         merge_size=vision.spatial_merge_size, temporal_patch_size=vision.temporal_patch_size)
    data = base.to_dict()
    for key in ("mean", "std"):
        if f"image_{key}" in pre:
            data[key] = pre[f"image_{key}"]
    return VideoPrep.from_dict(data)


def video_token_count(spec: ArchSpec, config: Any, frames: int, grid: tuple[int, int, int] | None = None) -> int:
    """How many placeholder tokens the model's forward scatters the video's features into.

    LLaVA-NeXT-Video: per frame the (S/p)^2 patch features (CLS dropped) average-pooled with
    ``spatial_pool_stride``; LLaVA-OneVision: per frame bilinear-downsampled to ceil(S/p/2)^2,
    plus one ``image_newline`` after the last frame; Qwen2-VL: t*h*w patches / merge_size^2.
    """
    if spec.qwen:
        if grid is None:
            raise ValueError("Qwen2-VL token counts need the patch grid")
        t, h, w = grid
        return t * h * w // config.vision_config.spatial_merge_size**2
    side = config.vision_config.image_size // config.vision_config.patch_size
    if spec.name == "llava-next-video":
        if config.vision_feature_select_strategy != "default":
            raise ValueError("LLaVA-NeXT-Video video pooling needs vision_feature_select_strategy='default'")
        return frames * (side // config.spatial_pool_stride) ** 2
    return frames * math.ceil(side / 2) ** 2 + 1
