"""How true are the facts a teacher rationale states? Each converter, on the same traces.

A fact is an action a rationale places in time: "open the door from frame 12 to frame 15",
"\"Take the cup\" happens from frame 3 to frame 5". It is true when the simulator recorded an
event with the same verb and object whose window on the question's 32 sampled frames overlaps
it with temporal IoU >= 0.5 (``precision``); ``action_right`` only asks for an event of that verb
and object overlapping the window at all (the tools' windows are often shorter than the annotated
ones). The token count is the embedded student's. Ground truth is read here, in evaluation only.

    python benchmarks/teacher_facts.py --traces runs/demo/traces.jsonl --data runs/demo/world
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from statistics import mean

from aotd.cot.convert import RuleConverter
from aotd.cot.program import ProgramConverter
from aotd.data.loaders import load_dataset
from aotd.data.records import TraceRecord, read_records
from aotd.data.star_classes import StarClasses
from aotd.embedded.student.tokenizer import WorldTokenizer
from aotd.embedded.tools.phrases import parse_action
from aotd.eval.grounding import ground_truth, load_video_meta
from aotd.tools.types import Window

# the last few words before "from frame A to frame B" name the action
_FACT = re.compile(r"((?:[A-Za-z/]+ ){1,5}?[A-Za-z/]+)\"? (?:happens )?from frame (\d+) to frame (\d+)")


def facts(text: str) -> list[tuple[str, str, Window]]:
    """(verb, object, window) of every action the text places in time."""
    out = []
    for m in _FACT.finditer(text):
        words = m.group(1).split()
        action = next((a for k in range(len(words)) if (a := parse_action(" ".join(words[k:])))), None)
        if action:
            out.append((*action, Window(int(m.group(2)), int(m.group(3)))))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--traces", type=Path, required=True)
    ap.add_argument("--data", type=Path, required=True, help="the world the traces were made on")
    ap.add_argument("--out", type=Path, help="also write the figures as JSON here")
    args = ap.parse_args()

    samples = {s.sample_id: s for s in load_dataset("star", args.data).samples}
    classes = StarClasses.load(args.data / "annotations" / "classes")
    meta, tok = load_video_meta(args.data), WorldTokenizer.build()
    converters = {"rules (every call)": RuleConverter(), "program (reasoning, used facts)": ProgramConverter()}
    stats = {name: {"facts": 0, "true": 0, "overlap": 0, "tokens": [], "rationales": 0} for name in converters}
    for trace in read_records(args.traces, TraceRecord):
        sample = samples.get(trace.sample_id)
        if trace.failure or sample is None:
            continue
        video = meta[sample.video.video_id]
        truth = ground_truth(sample, trace.frames, video["fps"], classes, video_actions=video.get("actions"))
        events = [(label.split(" ", 1), w) for label, w in truth.windows]
        for name, converter in converters.items():
            text = converter.convert(trace).rationale
            if not text:
                continue
            s = stats[name]
            s["rationales"] += 1
            s["tokens"].append(len(tok.encode(text)))
            for verb, obj, window in facts(text):
                s["facts"] += 1
                s["true"] += any(v == [verb, obj] and window.iou(w) >= 0.5 for v, w in events)
                s["overlap"] += any(v == [verb, obj] and window.iou(w) > 0 for v, w in events)
    rows = {name: {"rationales": s["rationales"], "facts": s["facts"],
                   "facts_per_rationale": round(s["facts"] / max(1, s["rationales"]), 2),
                   "precision": round(s["true"] / max(1, s["facts"]), 4),
                   "action_right": round(s["overlap"] / max(1, s["facts"]), 4),
                   "mean_tokens": round(mean(s["tokens"]), 1) if s["tokens"] else None}
            for name, s in stats.items()}
    print(f"{'converter':<34} {'rationales':>10} {'facts/rat.':>10} {'precision':>9} {'action':>7} {'tokens':>7}")
    for name, r in rows.items():
        print(f"{name:<34} {r['rationales']:>10} {r['facts_per_rationale']:>10} {r['precision']:>9.1%} {r['action_right']:>7.1%} {r['mean_tokens']:>7}")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
