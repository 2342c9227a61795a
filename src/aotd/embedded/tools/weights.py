"""The embedded tools' trained weights: shipped with the package, made by ``aotd tools train``.

Training the detector and the recognizer takes about five minutes on two cores, which a fresh
machine's first demo used to spend before doing anything else. The weights are small (2.5 MB),
so the package carries them in ``weights/``, with ``weights.json`` recording how they were made
(the command, each trainer's settings, torch's version, each file's sha256). ``aotd tools train``
remakes them from scratch, deterministically; a test checks that the shipped files are the
ones the manifest names and (slow) that retraining reproduces them. Without shipped files
(a trimmed install) the weights are trained once into the user cache (``$AOTD_CACHE``).
"""

from __future__ import annotations

import hashlib
import json
import platform
from pathlib import Path
from typing import Any

from aotd.paths import cache_dir

SHIPPED = Path(__file__).parent / "weights"
MANIFEST = "weights.json"
COMMAND = "aotd tools train"


def weights_file(name: str) -> Path:
    """Where the default weights ``name`` are read from: the shipped copy, else the user cache
    (where they are trained on first use)."""
    return SHIPPED / name if (SHIPPED / name).exists() else cache_dir() / name


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def train_all(out: Path, *, progress: bool = True) -> dict[str, Any]:
    """Train the detector and the recognizer with their default settings into ``out`` and
    write the manifest; returns it."""
    import torch

    from aotd.embedded.tools.clip_classifier import CACHE_FILE, train_clip_classifier
    from aotd.embedded.tools.cnn_detector import DEFAULT_EPOCHS, DEFAULT_VIDEOS, MODEL_FILE, train_cnn_detector

    out.mkdir(parents=True, exist_ok=True)
    train_cnn_detector(out / MODEL_FILE, progress=progress)
    train_clip_classifier(out / CACHE_FILE, log=progress)
    # the CPU's instruction set picks torch's kernels, and so the order floats are summed in: the
    # same command reproduces the files bit for bit only on the same kind of CPU
    manifest = {"command": COMMAND, "torch": torch.__version__, "python": platform.python_version(),
                "cpu": torch.backends.cpu.get_cpu_capability(),
                "files": {MODEL_FILE: {"trainer": "aotd.embedded.tools.cnn_detector.train_cnn_detector",
                                       "settings": {"videos": DEFAULT_VIDEOS, "epochs": DEFAULT_EPOCHS, "seed": 0}},
                          CACHE_FILE: {"trainer": "aotd.embedded.tools.clip_classifier.train_clip_classifier",
                                       "settings": "defaults"}}}
    for name, entry in manifest["files"].items():
        entry |= {"sha256": sha256(out / name), "bytes": (out / name).stat().st_size}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest
