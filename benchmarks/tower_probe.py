"""What does the student's image encoder see? Linear probes of the detector's features for each event.

The embedded student's tower (``embedded.student.vision``) has two parts: the detector, frame
by frame, and the clip recognizer over the question's frames. This probes the first: if a
linear read-out of the detector's features over an event's window cannot tell the event's verb
or object, the student must get them from the recognizer (it did not, before the recognizer
joined the tower, and stayed near chance). For every annotated event of a world (the simulator's
action windows; evaluation only) the probe input is the features averaged over the event's
frames and their change from its first to its last frame (``--no-delta`` drops the change). A softmax regression is
fit on the train split's events and scored on val; chance is the majority class.

The second part reads the recognizer with no training at all: on every val and test question
whose options all name actions, it picks the option whose action peaks highest in the
question's 32 frames (per family; chance 25%). Evaluation only: the events and answers are
annotations.

    python benchmarks/tower_probe.py --data runs/demo/world
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import torch

from aotd.data.loaders import load_dataset
from aotd.data.star_classes import StarClasses
from aotd.embedded.student.vision import VideoFeatures, VisionTower
from aotd.embedded.tools.phrases import parse_action
from aotd.eval.grounding import load_video_meta


def event_inputs(feats: torch.Tensor, first: int, last: int, delta: bool) -> torch.Tensor:
    window = feats[first : last + 1]
    parts = [window.mean(0)]
    if delta:
        parts.append(feats[last] - feats[first])
    return torch.cat(parts)


def probe(x_train: torch.Tensor, y_train: torch.Tensor, x_test: torch.Tensor, classes: int, *,
          steps: int = 300, weight_decay: float = 1e-3) -> torch.Tensor:
    """Predicted classes of ``x_test`` from a softmax regression fit (full batch) on the train events."""
    mean, std = x_train.mean(0), x_train.std(0) + 1e-6
    a, b = (x_train - mean) / std, (x_test - mean) / std
    torch.manual_seed(0)
    layer = torch.nn.Linear(a.shape[1], classes)
    opt = torch.optim.Adam(layer.parameters(), lr=0.05, weight_decay=weight_decay)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(layer(a), y_train).backward()
        opt.step()
    with torch.no_grad():
        return layer(b).argmax(1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--no-delta", action="store_true", help="only the window's mean features")
    ap.add_argument("--out", type=Path, help="also write the figures as JSON here")
    args = ap.parse_args()

    meta = load_video_meta(args.data)
    classes = StarClasses.load(args.data / "annotations" / "classes")
    store = VideoFeatures(VisionTower.pretrained())
    rows: dict[str, list[tuple[torch.Tensor, str, str]]] = {"train": [], "val": []}
    for video_id, info in meta.items():
        if info["split"] not in rows:
            continue
        feats = store.video(args.data / "videos" / f"{video_id}.mp4")
        for aid, start_s, end_s in info.get("actions") or []:
            first = min(len(feats) - 1, int(round(start_s * info["fps"])))
            last = max(first, min(len(feats) - 1, int(round(end_s * info["fps"]))))
            rows[info["split"]].append((event_inputs(feats, first, last, not args.no_delta),
                                        classes.action_verb(aid), classes.action_object(aid)))
    results: dict[str, dict[str, float]] = {}
    for k, target in ((1, "verb"), (2, "object")):
        names = sorted({r[k] for split in rows.values() for r in split})
        index = {n: i for i, n in enumerate(names)}
        y_train = torch.tensor([index[r[k]] for r in rows["train"]])
        y_val = torch.tensor([index[r[k]] for r in rows["val"]])
        pred = probe(torch.stack([r[0] for r in rows["train"]]), y_train, torch.stack([r[0] for r in rows["val"]]),
                     len(names))
        majority = Counter(y_train.tolist()).most_common(1)[0][0]
        results[target] = {"probe": round((pred == y_val).float().mean().item(), 4),
                           "majority": round((y_val == majority).float().mean().item(), 4), "classes": len(names)}
    both = {"train_events": len(rows["train"]), "val_events": len(rows["val"]), "delta": not args.no_delta}
    print(json.dumps(both))
    for target, r in results.items():
        print(f"{target:<7} probe {r['probe']:.1%}   majority {r['majority']:.1%}   ({r['classes']} classes)")
    peaks = recognizer_peaks(args.data, store)
    for family, (n, acc) in sorted(peaks.items()):
        print(f"recognizer peak, {family:<11} {acc:.1%} of {n} questions whose options are actions")
    if args.out:
        args.out.write_text(json.dumps(both | results | {"recognizer_peak": peaks}, indent=2) + "\n")


def recognizer_peaks(data: Path, store: VideoFeatures) -> dict[str, tuple[int, float]]:
    """Per family: (questions, accuracy) of choosing the option whose action peaks highest."""
    dataset = load_dataset("star", data)
    tower = store.tower
    tally: dict[str, list[bool]] = {}
    for s in dataset.by_split("val") + dataset.by_split("test"):
        named = [parse_action(c) for c in s.choice_texts]
        if any(a is None or a not in tower.actions for a in named):
            continue
        probs = store.features(s.video.path, s.start, s.end)[:, tower.frame_dim :]
        scores = [float(probs[:, tower.actions.index(a)].max()) for a in named]
        tally.setdefault(s.question_type, []).append(s.choice_texts[scores.index(max(scores))] == s.answer)
    return {family: (len(v), round(sum(v) / len(v), 4)) for family, v in tally.items()}


if __name__ == "__main__":
    main()
