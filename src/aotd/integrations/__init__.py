"""Adapters that let other tools drive aotd's students.

``lmms_eval_manifest`` is what the ``lmms_eval.models`` entry point (pyproject.toml) names:
lmms-eval >= 0.6 calls it while it builds its model registry and imports the class it names
(``aotd.integrations.lmms_eval.AotdStudent``) only when ``--model aotd`` is asked for, so this
module imports nothing heavy. See ``aotd.integrations.lmms_eval`` for the model and its
``--model_args``.
"""

from __future__ import annotations

from typing import Any

LMMS_EVAL_MODEL = "aotd"
LMMS_EVAL_CLASS = "aotd.integrations.lmms_eval.AotdStudent"
LMMS_EVAL_MANIFEST: dict[str, Any] = {"model_id": LMMS_EVAL_MODEL, "simple_class_path": LMMS_EVAL_CLASS}


def lmms_eval_manifest() -> Any:
    """lmms-eval's ``ModelManifest`` for the students: ``--model aotd``, a "simple" model (it
    reads ``doc_to_visual``), implemented by ``AotdStudent``."""
    try:
        from lmms_eval.models.registry_v2 import ModelManifest
    except ImportError as exc:
        raise ImportError(f"the aotd model for lmms-eval needs lmms-eval >= 0.6 ({exc}); "
                          "pip install lmms-eval, then run: lmms-eval --model aotd --model_args pretrained=MODEL_DIR "
                          "--tasks TASK") from exc
    return ModelManifest(**LMMS_EVAL_MANIFEST)
