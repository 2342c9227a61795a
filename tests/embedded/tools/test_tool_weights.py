"""The embedded tools' shipped weights: the files the manifest names, loaded by default, and
(slow) remade by `aotd tools train`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from aotd.data.keyframes import annotated_keyframes
from aotd.embedded.tools.clip_classifier import CACHE_FILE, ClipClassifier
from aotd.embedded.tools.cnn_detector import MODEL_FILE, CNNDetector
from aotd.embedded.tools.weights import MANIFEST, SHIPPED, sha256, train_all, weights_file
from aotd.embedded.world.generate import WorldConfig, generate_world
from aotd.embedded.world.vocab import DETECTABLE
from aotd.select.actions import evaluate_recognition
from aotd.select.detection import evaluate_detector


def test_the_shipped_files_are_the_ones_the_manifest_names() -> None:
    manifest = json.loads((SHIPPED / MANIFEST).read_text())
    assert manifest["command"] == "aotd tools train"
    assert set(manifest["files"]) == {MODEL_FILE, CACHE_FILE}
    for name, entry in manifest["files"].items():
        assert sha256(SHIPPED / name) == entry["sha256"], f"{name} is not the file `aotd tools train` wrote"
        assert (SHIPPED / name).stat().st_size < 3 * 2**20  # small enough to ship


def test_the_tools_load_the_shipped_weights_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AOTD_CACHE", str(tmp_path))  # an empty cache: nothing to train, nothing trained
    assert weights_file(MODEL_FILE) == SHIPPED / MODEL_FILE and weights_file(CACHE_FILE) == SHIPPED / CACHE_FILE
    assert isinstance(CNNDetector.load(), CNNDetector) and isinstance(ClipClassifier.load(), ClipClassifier)
    assert not list(tmp_path.iterdir())


def _state(path: Path) -> dict[str, torch.Tensor]:
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    return ckpt.get("state_dict") or ckpt["state"]


@pytest.mark.slow
def test_aotd_tools_train_remakes_the_shipped_weights(tmp_path: Path) -> None:
    """Five minutes: both trainers from scratch. On the kind of CPU the shipped files were trained
    on (the manifest's ``cpu`` and ``torch``) the files are compared tensor by tensor; on another,
    torch's kernels sum in another order and six epochs carry the last bits far, so the retrained
    tools must score as the shipped ones do on a held-out world."""
    manifest = train_all(tmp_path / "weights", progress=False)
    shipped = json.loads((SHIPPED / MANIFEST).read_text())
    if (shipped.get("cpu"), shipped.get("torch")) == (manifest["cpu"], manifest["torch"]):
        for name in (MODEL_FILE, CACHE_FILE):
            before, again = _state(SHIPPED / name), _state(tmp_path / "weights" / name)
            assert before.keys() == again.keys()
            worst = max((before[k].float() - again[k].float()).abs().max().item() for k in before)
            assert worst <= 1e-4, f"{name}: retrained weights differ from the shipped ones by up to {worst}"
        return
    world = tmp_path / "held-out"  # a seed neither trainer uses
    generate_world(WorldConfig(out=world, videos=16, seed=4242, noise=0.5, workers=2), progress=False)
    keyframes = annotated_keyframes(world)
    iou = [evaluate_detector(CNNDetector.load(d / MODEL_FILE), keyframes, DETECTABLE)["mean_iou"]
           for d in (SHIPPED, tmp_path / "weights")]
    top1 = [evaluate_recognition(ClipClassifier.load(d / CACHE_FILE), world, split=None).top1
            for d in (SHIPPED, tmp_path / "weights")]
    assert iou[0] > 0.5 and abs(iou[1] - iou[0]) <= 0.03, f"detector IoU: shipped {iou[0]:.3f}, retrained {iou[1]:.3f}"
    assert top1[0] > 0.2 and abs(top1[1] - top1[0]) <= 0.06, f"recognizer top-1: shipped {top1[0]:.3f}, retrained {top1[1]:.3f}"
