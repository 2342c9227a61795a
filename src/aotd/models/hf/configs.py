"""Model configs for the transformers students, written out by hand: tiny ones and the 7B ones.

No weights can be downloaded here, so tests build tiny random instances (hidden size 32, two
layers, as transformers' own tests do) and the GPU benchmark builds the 7B shapes with random
weights. The 7B dicts follow the published checkpoints: LLaVA-NeXT-Video-7B (Vicuna-7B + CLIP
ViT-L/14-336), LLaVA-OneVision-Qwen2-7B (Qwen2-7B + SigLIP-so400m/14-384 without its last
layer), Qwen2-VL-7B and Qwen2.5-VL-7B. Placeholder token ids come from the tokenizer in use.
"""

from __future__ import annotations

from typing import Any

import transformers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from aotd.models.hf.arch import ArchSpec
from aotd.models.options import MC_SUFFIX, OE_SUFFIX, RATIONALE_SUFFIX

Dims = dict[str, Any]

LLAMA_7B: Dims = dict(vocab_size=32064, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                      num_attention_heads=32, num_key_value_heads=32, max_position_embeddings=4096,
                      rms_norm_eps=1e-5)
QWEN2_7B: Dims = dict(vocab_size=152064, hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
                      num_attention_heads=28, num_key_value_heads=4, max_position_embeddings=32768,
                      rms_norm_eps=1e-6, rope_theta=1_000_000.0)
CLIP_L_336: Dims = dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                        image_size=336, patch_size=14, projection_dim=768)
SIGLIP_SO400M: Dims = dict(hidden_size=1152, intermediate_size=4304, num_hidden_layers=26, num_attention_heads=16,
                           image_size=384, patch_size=14, vision_use_head=False)
QWEN2_VL_VIT: Dims = dict(depth=32, embed_dim=1280, hidden_size=3584, mlp_ratio=4, num_heads=16, patch_size=14,
                          spatial_merge_size=2, temporal_patch_size=2)
QWEN25_VL_VIT: Dims = dict(depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16, out_hidden_size=3584,
                           patch_size=14, spatial_merge_size=2, temporal_patch_size=2, window_size=112,
                           fullatt_block_indexes=[7, 15, 23, 31], tokens_per_second=2)
MROPE_7B = [16, 24, 24]  # halves of the 128-dim heads split over (time, height, width)

SEVEN_B: dict[str, tuple[Dims, Dims]] = {
    "llava-next-video": (LLAMA_7B, CLIP_L_336),
    "llava-onevision": (QWEN2_7B, SIGLIP_SO400M),
    "qwen2-vl": (QWEN2_7B, QWEN2_VL_VIT),
    "qwen2.5-vl": (QWEN2_7B, QWEN25_VL_VIT),
}

TINY_TEXT: Dims = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                       num_key_value_heads=2, max_position_embeddings=2048)
TINY_VIT: Dims = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                      image_size=16, patch_size=4)
TINY: dict[str, tuple[Dims, Dims]] = {
    "llava-next-video": (TINY_TEXT, dict(TINY_VIT, projection_dim=32)),
    "llava-onevision": (TINY_TEXT, dict(TINY_VIT, vision_use_head=False)),
    "qwen2-vl": (TINY_TEXT, dict(depth=2, embed_dim=32, hidden_size=32, mlp_ratio=2, num_heads=4, patch_size=4,
                                 spatial_merge_size=2, temporal_patch_size=2)),
    "qwen2.5-vl": (TINY_TEXT, dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=4, out_hidden_size=32,
                                   patch_size=4, spatial_merge_size=2, temporal_patch_size=2, window_size=16,
                                   fullatt_block_indexes=[1], tokens_per_second=2)),
}
TINY_PIXELS = 16 * 16  # Qwen2-VL frames resized to 16x16: a 4x4 patch grid, 4 tokens per 2 frames


def build_config(spec: ArchSpec, text: Dims, vision: Dims, token_ids: dict[str, int]) -> Any:
    """A full model config from LM dims, vision dims and the tokenizer's special-token ids."""
    text = dict(text)
    if spec.name == "llava-next-video":
        ids = dict(bos_token_id=token_ids["<s>"], eos_token_id=token_ids["</s>"], pad_token_id=token_ids["<pad>"])
        return transformers.LlavaNextVideoConfig(
            text_config=dict(model_type="llama", **text, **ids),
            vision_config=dict(model_type="clip_vision_model", **vision),
            video_token_index=token_ids["<video>"], image_token_index=token_ids["<image>"],
            vision_feature_layer=-2, vision_feature_select_strategy="default",
            spatial_pool_mode="average", spatial_pool_stride=2)
    ids = dict(bos_token_id=token_ids["<|endoftext|>"], eos_token_id=token_ids["<|im_end|>"],
               pad_token_id=token_ids["<|endoftext|>"])
    theta = text.pop("rope_theta", 1_000_000.0)
    if spec.name == "llava-onevision":
        return transformers.LlavaOnevisionConfig(
            text_config=dict(model_type="qwen2", **text, **ids, rope_parameters=dict(rope_type="default",
                                                                                     rope_theta=theta)),
            vision_config=dict(model_type="siglip_vision_model", **vision),
            video_token_index=token_ids["<video>"], image_token_index=token_ids["<image>"],
            vision_feature_layer=-1, vision_feature_select_strategy="full")
    head_half = text["hidden_size"] // text["num_attention_heads"] // 2
    mrope = MROPE_7B if head_half == sum(MROPE_7B) else [head_half - 2 * (head_half // 4)] + [head_half // 4] * 2
    rope = dict(rope_type="default", rope_theta=theta, mrope_section=mrope)
    config_class = transformers.Qwen2VLConfig if spec.name == "qwen2-vl" else transformers.Qwen2_5_VLConfig
    return config_class(
        text_config=dict(**text, **ids, rope_parameters=rope), vision_config=dict(vision),
        image_token_id=token_ids["<|image_pad|>"], video_token_id=token_ids["<|video_pad|>"],
        vision_start_token_id=token_ids["<|vision_start|>"], vision_end_token_id=token_ids["<|vision_end|>"])


CORPUS = [MC_SUFFIX, OE_SUFFIX, RATIONALE_SUFFIX,
          "What did the person do after they opened the door? A. took the cup B. sat on the bed C. put down "
          "the book D. threw the towel. The person first walks to the table, then picks up the cup and drinks. "
          "Which object was tidied up by the person? Why did the man turn around? How many people are there?"]


def tiny_tokenizer(spec: ArchSpec, vocab_size: int = 512) -> transformers.PreTrainedTokenizerFast:
    """A byte-level BPE (writes any text) trained in a millisecond on a few prompts, with the
    family's special tokens, wrapped as a PreTrainedTokenizerFast."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(spec.specials), show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS * 4, trainer)
    layout = spec.layout
    named = {"eos_token": layout.end, "pad_token": spec.pad}
    if layout.bos:
        named.update(bos_token="<s>", unk_token="<unk>")
    extra = [t for t in spec.specials if t not in named.values()]
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tok, extra_special_tokens=extra, **named)


def token_ids(tokenizer: Any, tokens: tuple[str, ...]) -> dict[str, int]:
    ids = dict(zip(tokens, tokenizer.convert_tokens_to_ids(list(tokens))))
    missing = [t for t, i in ids.items() if i is None or (i == tokenizer.unk_token_id and t != tokenizer.unk_token)]
    if missing:
        raise ValueError(f"the tokenizer lacks the special tokens {missing}")
    return ids
