"""Training-step time, tokens/s and model FLOPs utilisation of the transformers students at 7B.

Builds each 7B architecture from the hand-written configs in ``aotd.models.hf.configs``
with random bf16 weights straight on the GPU, wraps it as an ``HFStudent`` in the paper's
training mode (vision encoder frozen; full fine-tuning or LoRA), encodes 32 random frames with
a multiple-choice prompt and a rationale target through the student's own ``encode``/``collate``,
and times forward + ``dual_loss`` + backward (and, with ``--optimizer``, an AdamW step):

    python benchmarks/hf_students_gpu.py [--arch qwen2-vl llava-onevision] [--mode full|lora]
        [--batch-size 1] [--steps 5] [--peak-tflops 989] [--json out.jsonl]
    python benchmarks/hf_students_gpu.py --tiny   # tiny configs on the CPU: checks the script

The tokenizer is the tiny byte-level one (no weights or vocabularies can be downloaded), so
placeholder ids differ from the real checkpoints' but token counts and shapes do not.
MFU is the usual 6·N·tokens/s / peak (N all parameters, tokens all non-padding tokens);
``mfu_split`` counts 6·N_lm per LM token (embedding table left out), 6·N_projector per video
token and 2·N_vision per patch the frozen encoder reads (forward only), closer to the work done.
Both are nominal under LoRA (no weight gradients for the frozen LM). Attention's quadratic term
and activation recomputation (``--grad-ckpt``, on by default for 7B) are in neither.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import statistics
import sys
import time
from typing import Any

import numpy as np
import torch

from aotd.distill.loss import dual_loss
from aotd.models.hf import ARCHS, LoraSettings, train_mode
from aotd.models.hf.arch import arch_spec, default_prep
from aotd.models.hf.configs import SEVEN_B, TINY, TINY_PIXELS, build_config, tiny_tokenizer, token_ids
from aotd.models.hf.student import HFStudent
from aotd.models.options import answer_prompt
from aotd.models.student import RATIONALE

QUESTION = "What did the person do after they put down the cup?"
CHOICES = ["Opened the door.", "Took the towel.", "Sat on the bed.", "Threw the book."]
RATIONALE_TEXT = ("The person is first seen at the table holding a cup. In frame 12 the cup is put down. "
                  "Afterwards the person walks to the door and opens it, so the answer is A. ")


def target_text(tokenizer: Any, tokens: int) -> str:
    """A rationale of about ``tokens`` tokens."""
    text = RATIONALE_TEXT
    while len(tokenizer(text, add_special_tokens=False)["input_ids"]) < tokens:
        text += RATIONALE_TEXT
    ids = tokenizer(text, add_special_tokens=False)["input_ids"][:tokens]
    return str(tokenizer.decode(ids))


def build_student(arch: str, args: argparse.Namespace, device: torch.device, dtype: torch.dtype) -> HFStudent:
    spec = arch_spec(arch)
    tokenizer = tiny_tokenizer(spec)
    text, vision = (TINY if args.tiny else SEVEN_B)[arch]
    text = dict(text, vocab_size=len(tokenizer)) if args.tiny else dict(text)
    config = build_config(spec, text, vision, token_ids(tokenizer, spec.specials))
    with torch.device(device):
        model = spec.cls._from_config(config, dtype=dtype, attn_implementation=args.attn)
    lora = LoraSettings(r=args.lora_r, alpha=2 * args.lora_r) if args.mode == "lora" else None
    model = train_mode(model, spec, lora)
    prep = default_prep(spec, config)
    if spec.qwen:
        pixels = TINY_PIXELS if args.tiny else args.qwen_pixels
        prep = dataclasses.replace(prep, min_pixels=min(prep.min_pixels, pixels), max_pixels=pixels)
    student = HFStudent(spec, model, tokenizer, prep, lora=lora, max_length=1 << 20, num_frames=args.frames,
                        name=f"{arch}-{'tiny' if args.tiny else '7b'}")
    if args.grad_ckpt:
        student.enable_gradient_checkpointing()
    return student


def vision_patches(student: HFStudent, batch: dict[str, torch.Tensor]) -> int:
    """Tokens the vision encoder reads for the batch (patches, plus CLIP's CLS)."""
    if student.spec.qwen:
        return int(batch["video_grid_thw"].prod(-1).sum())
    v = student.config.vision_config
    per_frame = (v.image_size // v.patch_size) ** 2 + (1 if student.spec.name == "llava-next-video" else 0)
    b, frames = batch["video_frames"].shape[:2]
    return int(b * frames * per_frame)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(arch: str, args: argparse.Namespace, device: torch.device, dtype: torch.dtype) -> dict[str, Any]:
    start = time.perf_counter()
    student = build_student(arch, args, device, dtype)
    build_s = time.perf_counter() - start
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (args.frames, args.height, args.width, 3), dtype=np.uint8)
    prompt = answer_prompt(QUESTION, CHOICES)
    example = student.encode(frames, prompt, target_text(student.tokenizer, args.target_tokens), RATIONALE)
    batch = {k: v.to(device) for k, v in student.collate([example] * args.batch_size).items()}
    counts = student.parameter_counts()
    trainable = [p for p in student.model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-5, fused=device.type == "cuda") if args.optimizer else None
    student.model.train()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for step in range(args.warmup + args.steps):
        sync(device)
        t0 = time.perf_counter()
        logits = student.logits(batch)
        loss = dual_loss(logits, batch["input_ids"], batch["segments"]).total
        del logits
        loss.backward()
        loss = loss.detach()
        if optimizer is not None:
            optimizer.step()
        for p in trainable:
            p.grad = None
        sync(device)
        if step >= args.warmup:
            times.append(time.perf_counter() - t0)
    step_s = statistics.median(times)
    tokens = int(batch["attention_mask"].sum())
    video_tokens = int((batch["input_ids"] == student.video_id).sum())
    embed = student.base_model.get_input_embeddings().weight.numel()
    peak = args.peak_tflops * 1e12
    lm_flops = 6 * (counts["language"] - embed) * tokens + 6 * counts["projector"] * video_tokens
    vision_flops = 2 * counts["vision"] * vision_patches(student, batch)
    result = {
        "arch": arch, "size": "tiny" if args.tiny else "7b", "mode": args.mode, "device": str(device),
        "dtype": str(dtype).removeprefix("torch."), "batch": args.batch_size, "frames": args.frames,
        "tokens": tokens, "video_tokens": video_tokens, "params": counts["total"], "trainable": counts["trainable"],
        "vision_params": counts["vision"], "build_s": round(build_s, 2), "step_s": round(step_s, 4),
        "tokens_per_s": round(tokens / step_s, 1),
        "mfu": round(6 * counts["total"] * tokens / step_s / peak, 4),
        "mfu_split": round((lm_flops + vision_flops) / step_s / peak, 4),
        "grad_ckpt": args.grad_ckpt, "optimizer": args.optimizer, "loss": round(loss.item(), 4),
    }
    if device.type == "cuda":
        result["peak_mem_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 1)
    return result


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", nargs="+", default=list(ARCHS), choices=list(ARCHS))
    ap.add_argument("--mode", choices=["full", "lora"], default="full")
    ap.add_argument("--lora-r", type=int, default=16)
    ap.add_argument("--tiny", action="store_true", help="tiny configs on the CPU, float32: checks the script")
    ap.add_argument("--batch-size", type=int, default=1)
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--qwen-pixels", type=int, default=360 * 420, help="Qwen2-VL per-frame pixel budget")
    ap.add_argument("--target-tokens", type=int, default=128, help="rationale length")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--peak-tflops", type=float, default=989.0, help="dense bf16 peak (H100 SXM: 989)")
    ap.add_argument("--attn", default="sdpa", help="attn_implementation (sdpa, flash_attention_2, eager)")
    ap.add_argument("--grad-ckpt", action=argparse.BooleanOptionalAction, default=None,
                    help="activation checkpointing (default: on for 7B, off for --tiny)")
    ap.add_argument("--optimizer", action="store_true", help="also time an AdamW step (bf16 states: +4 bytes per trainable parameter)")
    ap.add_argument("--json", help="append one JSON line per architecture to this file")
    args = ap.parse_args(argv)
    if args.grad_ckpt is None:
        args.grad_ckpt = not args.tiny
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.tiny:
        device, dtype = torch.device("cpu"), torch.float32
        torch.set_num_threads(1)  # tiny matrices: threads only add synchronisation
    elif torch.cuda.is_available():
        device, dtype = torch.device("cuda"), torch.bfloat16
    else:
        print("no GPU: run with --tiny to check the script on the CPU", file=sys.stderr)
        return 2
    failed = 0
    for arch in args.arch:
        try:
            result = measure(arch, args, device, dtype)
        except torch.cuda.OutOfMemoryError as err:
            failed += 1
            result = {"arch": arch, "mode": args.mode, "error": f"out of memory: {str(err).splitlines()[0]}"}
        gc.collect()  # out here, the failed run's frames (and its model) are gone with the exception
        if device.type == "cuda":
            torch.cuda.empty_cache()
        print(json.dumps(result), flush=True)
        if args.json:
            with open(args.json, "a") as f:
                f.write(json.dumps(result) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
