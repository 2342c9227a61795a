"""The embedded tools' shipped weights: the files the manifest names, loaded by default, and
(slow) remade by `aotd tools train`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from aotd.tools.embedded.clip_classifier import CACHE_FILE, ClipClassifier
from aotd.tools.embedded.cnn_detector import MODEL_FILE, CNNDetector
from aotd.tools.embedded.weights import MANIFEST, SHIPPED, sha256, train_all, weights_file


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
    """Five minutes: both trainers from scratch, compared with the shipped files tensor by tensor."""
    train_all(tmp_path, progress=False)
    for name in (MODEL_FILE, CACHE_FILE):
        shipped, again = _state(SHIPPED / name), _state(tmp_path / name)
        assert shipped.keys() == again.keys()
        worst = max((shipped[k].float() - again[k].float()).abs().max().item() for k in shipped)
        assert worst <= 1e-4, f"{name}: retrained weights differ from the shipped ones by up to {worst}"
