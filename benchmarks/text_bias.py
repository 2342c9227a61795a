"""How much of an embedded world text alone answers: the testbed's contract (issue 13).

Trains the text-only baseline (``aotd.eval.text_only``: question and option words, their
pairs, option position; no pixels) on the train split and scores val+test; also step 1's text
prior and the most frequent answer position. The contract: each at most 30% (chance 25%).

    python benchmarks/text_bias.py --data runs/demo/world
    python benchmarks/text_bias.py --videos 200 --seed 11     # generate a fresh world first
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from aotd.data.loaders import load_dataset
from aotd.data.loaders.star import star_classes
from aotd.embedded.world.generate import WorldConfig, generate_world
from aotd.eval.text_only import answer_position_accuracy, text_only_accuracy
from aotd.select.prior import PriorQA


def measure(data: Path, seed: int = 0) -> dict:
    ds = load_dataset("star", data)
    train = ds.by_split("train")
    held_out = ds.by_split("val") + ds.by_split("test")
    prior = PriorQA.fit(train, star_classes(data, required="a generated world writes them"))
    prior_hits = [prior.answer(None, s.question, s.choice_texts) == s.answer for s in held_out]  # type: ignore[arg-type]
    manifest = json.loads((data / "world.json").read_text())
    return {"world": str(data), "seed": manifest.get("seed"), "train": len(train), "val+test": len(held_out),
            "question_pool": manifest.get("question_pool"),
            "text_only": text_only_accuracy(train, held_out, seed=seed),
            "step1_text_prior": sum(prior_hits) / max(1, len(prior_hits)),
            "answer_position": answer_position_accuracy(train, held_out)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, help="an existing world (else one is generated)")
    ap.add_argument("--videos", type=int, default=200)
    ap.add_argument("--seed", type=int, default=11, help="world seed when generating (tests use others)")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="aotd-bias-") as tmp:
        data = args.data
        if data is None:
            data = Path(tmp) / "world"
            t0 = time.perf_counter()
            generate_world(WorldConfig(out=data, videos=args.videos, seed=args.seed, workers=args.workers))
            print(f"generated {args.videos} videos in {time.perf_counter() - t0:.0f} s")
        print(json.dumps(measure(data), indent=2))


if __name__ == "__main__":
    main()
