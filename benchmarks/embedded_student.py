"""Embedded student: training throughput on two CPU cores, and what a 1,000-video world costs.

    python benchmarks/embedded_student.py [--data WORLD] [--videos 40] [--rationales 48] [--steps 20]

Without --data it generates a world (--videos) in a temporary folder. Answer records are the
train split's multiple-choice questions; rationale records are the rule converter's CoTs of
agent traces over the first --rationales train questions (pixel-reading tools that need no
training, in-process sandbox). Frames are decoded and read by the frozen tower once, as the trainer does. Prints
the model's size, frame preparation cost, seconds per step / samples/s / tokens/s for batches of
answer records, of rationale records and of both mixed, greedy generation speed, and the time
one epoch over a 1,000-video world's answer records would take.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from aotd.agent.stage import AgentStage, run_agent
from aotd.config import Config, SandboxConfig, ToolChoice
from aotd.cot.convert import RuleConverter
from aotd.data.loaders import load_dataset
from aotd.data.records import TraceRecord, read_records
from aotd.data.video import sample_video
from aotd.distill.loss import dual_loss
from aotd.embedded.student.model import EmbeddedStudent
from aotd.embedded.student.vision import VisionTower
from aotd.embedded.world.generate import WorldConfig, generate_world
from aotd.models.options import answer_prompt, answer_target, rationale_prompt
from aotd.models.student import ANSWER, RATIONALE, Example


def _records(data: Path, tmp: Path, n_rationales: int, student: EmbeddedStudent) -> tuple[list[Example], list[Example], dict]:
    """Encoded answer and rationale examples of the world's train split, and preparation costs."""
    ds = load_dataset("star", data)
    train = [s for s in ds.by_split("train") if s.choice_texts]
    traces = tmp / "traces.jsonl"
    started = time.perf_counter()
    config = Config(tools=ToolChoice(detection="color", grounding="motion", recognition="motion", qa="presence"),
                    sandbox=SandboxConfig(isolate=False))
    run_agent(train[:n_rationales], AgentStage(config), traces, progress=False)
    cots = {t.sample_id: RuleConverter().convert(t).rationale for t in read_records(traces, TraceRecord)}
    agent_s = time.perf_counter() - started
    decode_s = encode_s = 0.0
    answers, rationales = [], []
    for s in train:
        t0 = time.perf_counter()
        frames = sample_video(s.video.path, start_s=s.start, end_s=s.end).frames
        t1 = time.perf_counter()
        answers.append(student.encode(frames, answer_prompt(s.question, s.choice_texts),
                                      answer_target(s.answer, s.choice_texts), ANSWER))
        if cots.get(s.sample_id):
            rationales.append(student.encode(frames, rationale_prompt(s.question, s.choice_texts), cots[s.sample_id], RATIONALE))
        decode_s, encode_s = decode_s + t1 - t0, encode_s + time.perf_counter() - t1
    videos = len({s.video.video_id for s in ds.samples})
    return answers, rationales, {"videos": videos, "answers_per_video": len(answers) / videos, "agent_s": agent_s,
                                 "decode_ms": 1000 * decode_s / len(train), "encode_ms": 1000 * encode_s / len(train)}


def _train_steps(student: EmbeddedStudent, pool: list[Example], steps: int, batch_size: int, rng: random.Random) -> dict:
    """Median seconds per AdamW step on random batches from ``pool``, with tokens counted."""
    params = [p for p in student.model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-3)
    student.model.train()
    times, text, positions = [], 0, 0
    for i in range(steps + 2):
        batch = student.collate(rng.sample(pool, min(batch_size, len(pool))))
        started = time.perf_counter()
        loss = dual_loss(student.logits(batch), batch["input_ids"], batch["segments"])
        optimizer.zero_grad()
        loss.total.backward()
        optimizer.step()
        if i >= 2:  # the first steps warm up allocators and kernels
            times.append(time.perf_counter() - started)
            n_text = int((batch["input_ids"] != student.tokenizer.pad_id).sum())
            text += n_text
            positions += batch["input_ids"].numel() + batch["input_ids"].shape[0] * student.visual_tokens
    step = statistics.median(times)
    total = sum(times)
    return {"step_s": step, "samples_s": batch_size / step, "text_tok_s": text / total, "positions_s": positions / total}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, help="a generated world (default: generate one)")
    ap.add_argument("--videos", type=int, default=40, help="videos of the generated world (default 40)")
    ap.add_argument("--rationales", type=int, default=48, help="train questions to make rationale records for")
    ap.add_argument("--steps", type=int, default=20, help="timed steps per batch kind (default 20)")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    rng = random.Random(0)
    student = EmbeddedStudent(VisionTower.pretrained())
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        data = args.data
        if data is None:
            data = tmp / "world"
            generate_world(WorldConfig(out=data, videos=args.videos, seed=7, workers=2), progress=False)
        answers, rationales, prep = _records(data, tmp, args.rationales, student)
    if not rationales:
        print("no rationale records: every agent trace failed", file=sys.stderr)
        return 1
    runs = {"answer": _train_steps(student, answers, args.steps, args.batch_size, rng),
            "rationale": _train_steps(student, rationales, args.steps, args.batch_size, rng),
            "mixed": _train_steps(student, answers + rationales, args.steps, args.batch_size, rng)}
    example = answers[0]
    prompt = student.tokenizer.decode(example.input_ids[: example.segments.index(ANSWER)])
    frames = example.visual["features"]
    started = time.perf_counter()
    student.generate(frames, prompt, max_new_tokens=1)
    letter_ms = 1000 * (time.perf_counter() - started)
    started = time.perf_counter()
    n_gen = 0
    for _ in range(3):  # an untrained model rarely stops early, so this times max_new_tokens tokens
        n_gen += len(student.tokenizer.encode(student.generate(frames, prompt, max_new_tokens=200))) or 1
    gen_tok_s = n_gen / (time.perf_counter() - started)

    def length(pool: list[Example]) -> str:
        n = sorted(len(e.input_ids) for e in pool)
        return f"{len(pool)} records, text tokens median {n[len(n) // 2]}, max {n[-1]}"

    per_1000 = 1000 * prep["answers_per_video"]
    epoch_s = per_1000 / runs["answer"]["samples_s"]
    rows = [
        ("threads", f"{torch.get_num_threads()}"),
        ("model", f"{student.num_parameters() / 1e6:.2f} M parameters; {student.visual_tokens} visual tokens; "
                  f"vocabulary {len(student.tokenizer)}"),
        ("world", f"{prep['videos']} videos; agent + CoT for {args.rationales} questions {prep['agent_s']:.0f} s"),
        ("answer records", length(answers)),
        ("rationale records", length(rationales)),
        ("frames per record", f"decode {prep['decode_ms']:.0f} ms, encode (vision tower + tokenize) {prep['encode_ms']:.1f} ms, "
                              f"keeps {example.visual['features'].numel() * 4 / 1024:.0f} KiB"),
    ]
    for kind, r in runs.items():
        rows.append((f"train step, {kind} batch of {args.batch_size}",
                     f"{r['step_s']:.3f} s; {r['samples_s']:.1f} samples/s; {r['text_tok_s']:.0f} text tokens/s "
                     f"({r['positions_s']:.0f} positions/s with frame tokens)"))
    rows += [
        ("generate an answer letter", f"{letter_ms:.0f} ms"),
        ("generate a rationale", f"{gen_tok_s:.0f} tokens/s (greedy, key/value cache)"),
        ("1,000-video world", f"~{per_1000:.0f} answer records: {epoch_s / 60:.1f} min per epoch at batch {args.batch_size}; "
                              f"frames {per_1000 * prep['decode_ms'] / 60000:.1f} min to decode once"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
