"""Per-question latency and peak GPU memory: the paper's agent against the distilled student, at 7B.

The paper reports 47.9 s / 65 GB for its agent and 10.6 s / 18 GB for LLaVA-NeXT-Video-AoTD.
This script builds the same architectures with random bf16 weights straight on the GPU (no
download) and runs them on questions of the embedded world, 32 sampled frames each:

* agent: the planner (DeepSeek-Coder-6.7B shape) writes a program of ``--plan-tokens`` tokens
  after a ``--plan-prompt-tokens`` prompt (the API documentation and examples); random weights
  cannot write a program, so the program that runs is the rule planner's for the same question,
  in the sandbox's worker process, over the paper's tools through the project's own adapters:
  OWLv2 detection, CLIP frame/text grounding, LLaVA-NeXT-Video-7B-DPO recognition and one-hop
  QA (its answers are ``--tool-tokens`` long). All models stay resident, as in a real run.
* cot (reported apart, it is step 3's cost, not inference): Llama-3.1-8B writes a rationale of
  ``--rationale-tokens`` from a ``--trace-tokens`` prompt and judges it twice (stage ii's two
  questions, ``--judge-tokens`` each).
* student: LLaVA-NeXT-Video-7B answers (``--answer-tokens``) and explains (``--rationale-tokens``).

Every generation runs exactly its fixed length (``min_new_tokens = max_new_tokens``), so random
weights do not end early or late. ``--tiny`` builds tiny configs on the CPU to check the script;
without a GPU and without ``--tiny`` the script says so and exits 2. Training step time and MFU
are ``benchmarks/hf_students_gpu.py``'s job.

    python benchmarks/agent_vs_student_gpu.py [--questions 5] [--json out.jsonl]
    python benchmarks/agent_vs_student_gpu.py --tiny --questions 1
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aotd.models.hf.student import HFStudent
from aotd.models.options import answer_prompt, rationale_prompt

# Published shapes (config.json of deepseek-ai/deepseek-coder-6.7b-instruct, meta-llama/Llama-3.1-8B-Instruct).
DEEPSEEK_CODER_6_7B = dict(vocab_size=32256, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                           num_attention_heads=32, num_key_value_heads=32, max_position_embeddings=16384,
                           rope_theta=100000.0, rms_norm_eps=1e-6)
LLAMA_3_1_8B = dict(vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                    num_attention_heads=32, num_key_value_heads=8, max_position_embeddings=8192,
                    rope_theta=500000.0, rms_norm_eps=1e-5)
TINY_LM = dict(vocab_size=512, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
               num_key_value_heads=2, max_position_embeddings=8192)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_gib(device: torch.device) -> float | None:
    return round(torch.cuda.max_memory_allocated(device) / 2**30, 1) if device.type == "cuda" else None


def count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def billions(n: int) -> str:
    return f"{n / 1e9:.2f} B" if n >= 1e8 else f"{n / 1e6:.2f} M"


class FixedLengthLM:
    """A random causal LM of a published shape that reads ``prompt`` tokens and writes exactly ``new`` tokens."""

    def __init__(self, name: str, dims: dict[str, Any], device: torch.device, dtype: torch.dtype) -> None:
        from transformers import LlamaConfig, LlamaForCausalLM

        self.name, self.device = name, device
        with torch.device(device):
            self.model = LlamaForCausalLM._from_config(LlamaConfig(**dims), dtype=dtype).eval()
        self.vocab = dims["vocab_size"]

    @torch.no_grad()
    def run(self, prompt: int, new: int) -> float:
        ids = torch.randint(10, self.vocab, (1, prompt), device=self.device)
        sync(self.device)
        t0 = time.perf_counter()
        self.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=new,
                            min_new_tokens=new, do_sample=False, pad_token_id=0)
        sync(self.device)
        return time.perf_counter() - t0

    def parameters(self) -> int:
        return count(self.model)


def build_video_llm(tiny: bool, device: torch.device, dtype: torch.dtype, frames: int) -> HFStudent:
    """LLaVA-NeXT-Video-7B (the student, and with other weights the agent's -DPO tool) with random weights."""
    from aotd.tools.hf import tiny as hf_tiny

    student: HFStudent = hf_tiny.video_llm("llava-next-video", full=not tiny, num_frames=frames, device=device,
                                           dtype=dtype)
    student.model.eval()
    return student


def fixed_length(student: HFStudent) -> None:
    """Make every ``generate`` of ``student`` run exactly its ``max_new_tokens``."""
    module = student.base_model
    original = module.generate

    def generate(*args: Any, generation_config: Any = None, **kwargs: Any) -> Any:
        if generation_config is not None:
            generation_config.min_new_tokens = generation_config.max_new_tokens
        return original(*args, generation_config=generation_config, **kwargs)

    module.generate = generate


def embedded_questions(n: int, root: Path) -> list[Any]:
    """``n`` labelled multiple-choice questions of a freshly generated small embedded world."""
    from aotd.data.loaders import load_dataset
    from aotd.embedded.world.generate import WorldConfig, generate_world

    generate_world(WorldConfig(out=root, videos=max(2, n // 4 + 1), seed=3), progress=False)
    samples = [s for s in load_dataset("star", root).samples if s.answer is not None and s.choice_texts]
    return samples[:n]


class TimedPlanner:
    """The planner's cost (a random LM writing a fixed-length program) with the rule planner's program."""

    def __init__(self, lm: FixedLengthLM, prompt: int, new: int) -> None:
        from aotd.embedded.rule_planner import RulePlanner

        self.rules, self.lm, self.prompt, self.new = RulePlanner(), lm, prompt, new
        self.name = f"{lm.name}+rules"

    def plan(self, sample: Any) -> Any:
        self.lm.run(self.prompt, self.new)
        return self.rules.plan(sample)


def paper_toolset(args: argparse.Namespace, device: torch.device, dtype: torch.dtype,
                  video_llm: HFStudent) -> tuple[Any, int]:
    """OWLv2 detection, CLIP window grounding, LLaVA-NeXT-Video(-DPO) recognition and QA, random weights;
    and the parameters of the two vision models."""
    from aotd.tools.api import ToolAPI
    from aotd.tools.hf import ActionLabel, ClipWindowGrounder, OwlDetector, VideoLLM, VideoLLMQA, VideoLLMRecognizer
    from aotd.tools.hf import tiny as hf_tiny

    build = hf_tiny.tiny if args.tiny else hf_tiny.full_size
    owl, clip = build("owlv2", device=device, dtype=dtype), build("clip", device=device, dtype=dtype)
    detector = OwlDetector(*owl, kind="owlv2", batch_size=args.batch_frames)
    grounder = ClipWindowGrounder(*clip, batch_size=args.batch_frames)
    llm = VideoLLM(video_llm, max_new_tokens=args.tool_tokens)
    # STAR's 111 action classes make the recognition prompt long; a list of that size is used here
    labels = [ActionLabel(f"{verb} the {obj} ({k})", verb, obj) for k in range(7)
              for verb in ("take", "put down", "open", "close") for obj in ("box", "cup", "door", "book")][:111]
    params = sum(p.numel() for m in (owl[0], clip[0]) for p in m.parameters())
    return ToolAPI(detector, grounder, VideoLLMRecognizer(llm, labels=labels), VideoLLMQA(llm)), params


def measure_agent(args: argparse.Namespace, device: torch.device, dtype: torch.dtype,
                  samples: list[Any]) -> dict[str, Any]:
    from aotd.agent.build import SharedToolset
    from aotd.agent.run import run_sample

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    planner_lm = FixedLengthLM("deepseek-coder-6.7b", TINY_LM if args.tiny else DEEPSEEK_CODER_6_7B, device, dtype)
    video_llm = build_video_llm(args.tiny, device, dtype, args.frames)
    fixed_length(video_llm)
    api, tool_params = paper_toolset(args, device, dtype, video_llm)
    tools = SharedToolset(api)
    planner = TimedPlanner(planner_lm, args.plan_prompt_tokens, args.plan_tokens)
    run_sample(samples[0], planner, tools)  # warm-up: kernels, allocator, lazy loads
    per_question, plan, execute, ok = [], [], [], 0
    for sample in samples:
        timings: dict[str, float] = {}
        sync(device)
        t0 = time.perf_counter()
        record = run_sample(sample, planner, tools, timings=timings)
        sync(device)
        per_question.append(time.perf_counter() - t0)
        plan.append(timings.get("plan_s", 0.0))
        execute.append(timings.get("exec_s", 0.0))
        ok += record.failure is None
    result = {"system": "agent", "questions": len(samples), "programs_ok": ok,
              "s_per_question": round(statistics.mean(per_question), 2),
              "plan_s": round(statistics.mean(plan), 2), "execute_s": round(statistics.mean(execute), 2),
              "peak_gib": peak_gib(device),
              "params": billions(planner_lm.parameters() + tool_params + count(video_llm.model))}
    del planner_lm, video_llm, tools, planner
    return result


def measure_cot(args: argparse.Namespace, device: torch.device, dtype: torch.dtype, n: int) -> dict[str, Any]:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    lm = FixedLengthLM("llama-3.1-8b", TINY_LM if args.tiny else LLAMA_3_1_8B, device, dtype)
    lm.run(args.trace_tokens, 2)
    times = [lm.run(args.trace_tokens, args.rationale_tokens) + 2 * lm.run(args.trace_tokens, args.judge_tokens)
             for _ in range(n)]
    result = {"system": "cot (convert + verify)", "questions": n, "s_per_question": round(statistics.mean(times), 2),
              "peak_gib": peak_gib(device), "params": billions(lm.parameters())}
    del lm
    return result


def measure_student(args: argparse.Namespace, device: torch.device, dtype: torch.dtype,
                    samples: list[Any]) -> list[dict[str, Any]]:
    from aotd.agent.run import load_clip

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    student = build_video_llm(args.tiny, device, dtype, args.frames)
    fixed_length(student)
    clips = [load_clip(s).frames() for s in samples]
    student.generate(clips[0], answer_prompt(samples[0].question, samples[0].choice_texts), 2)  # warm-up
    results = []
    for mode, tokens in (("answer", args.answer_tokens), ("rationale", args.rationale_tokens)):
        times = []
        for sample, frames in zip(samples, clips):
            prompt = (rationale_prompt if mode == "rationale" else answer_prompt)(sample.question, sample.choice_texts)
            sync(device)
            t0 = time.perf_counter()
            student.generate(frames, prompt, tokens)
            sync(device)
            times.append(time.perf_counter() - t0)
        results.append({"system": f"student ({mode}, {tokens} tokens)", "questions": len(samples),
                        "s_per_question": round(statistics.mean(times), 2), "peak_gib": peak_gib(device),
                        "params": billions(count(student.model))})
    del student
    return results


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| System | Parameters | s / question | Peak GPU memory (GiB) |", "|---|---|---|---|"]
    for r in rows:
        peak = "—" if r.get("peak_gib") is None else r["peak_gib"]
        lines.append(f"| {r['system']} | {r.get('params', '—')} | {r['s_per_question']} | {peak} |")
    return "\n".join(lines)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tiny", action="store_true", help="tiny configs on the CPU, float32: checks the script")
    ap.add_argument("--questions", type=int, default=5)
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--plan-prompt-tokens", type=int, default=3000, help="API documentation + examples + question")
    ap.add_argument("--plan-tokens", type=int, default=200, help="a program of the paper's kind")
    ap.add_argument("--tool-tokens", type=int, default=16, help="a Video-LLM tool's answer")
    ap.add_argument("--batch-frames", type=int, default=16, help="frames per detector / CLIP pass")
    ap.add_argument("--answer-tokens", type=int, default=8)
    ap.add_argument("--rationale-tokens", type=int, default=256)
    ap.add_argument("--trace-tokens", type=int, default=2000, help="conversion / verification prompt")
    ap.add_argument("--judge-tokens", type=int, default=4)
    ap.add_argument("--skip", nargs="*", default=[], choices=["agent", "cot", "student"])
    ap.add_argument("--json", help="append one JSON line per row to this file")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.tiny:
        device, dtype = torch.device("cpu"), torch.float32
        torch.set_num_threads(2)
    elif torch.cuda.is_available():
        device, dtype = torch.device("cuda"), torch.bfloat16
    else:
        print("no GPU on this machine: these figures need one (run with --tiny to check the script on the CPU)",
              file=sys.stderr)
        return 2
    torch.manual_seed(0)
    np.random.seed(0)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        samples = embedded_questions(args.questions, Path(tmp) / "world")
        steps: list[tuple[str, Callable[[], Any]]] = [
            ("agent", lambda: [measure_agent(args, device, dtype, samples)]),
            ("cot", lambda: [measure_cot(args, device, dtype, len(samples))]),
            ("student", lambda: measure_student(args, device, dtype, samples)),
        ]
        for name, step in steps:
            if name in args.skip:
                continue
            try:
                got = step()
            except torch.cuda.OutOfMemoryError as err:
                got = [{"system": name, "s_per_question": "—", "error": f"out of memory: {str(err).splitlines()[0]}"}]
            gc.collect()
            if device.type == "cuda":
                torch.cuda.empty_cache()
            for row in got:
                row.update(device=torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu (tiny)",
                           dtype=str(dtype).removeprefix("torch."))
                print(json.dumps(row), flush=True)
                if args.json:
                    with open(args.json, "a") as f:
                        f.write(json.dumps(row) + "\n")
            rows += got
    print(markdown(rows))
    return 1 if any("error" in r for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
