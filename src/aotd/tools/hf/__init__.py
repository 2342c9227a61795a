"""The paper's tool models through transformers, as step-1 candidates beside the embedded ones.

| candidate        | sub-task(s)                     | adapter                          | default checkpoint                  |
|------------------|---------------------------------|----------------------------------|-------------------------------------|
| ``owl-vit``      | detection                       | ``detect.OwlDetector``           | google/owlvit-base-patch32          |
| ``owlv2``        | detection                       | ``detect.OwlDetector``           | google/owlv2-base-patch16-ensemble  |
| ``grounding-dino`` | detection                     | ``detect.GroundingDinoDetector`` | IDEA-Research/grounding-dino-tiny   |
| ``xclip``        | recognition                     | ``xclip.XClipRecognizer``        | microsoft/xclip-base-patch32        |
| ``clip-window``  | grounding                       | ``clip_window.ClipWindowGrounder`` | openai/clip-vit-large-patch14     |
| ``video-llm``    | grounding, recognition, QA      | ``video_llm.VideoLLM*``          | llava-hf/LLaVA-NeXT-Video-7B-DPO-hf |

Every adapter is built from an already-built ``(model, processor)`` pair or lazily from a
checkpoint (``from_pretrained`` / ``from_ref``: weights load on first use, once per process,
shared between roles); ``tiny`` builds random instances from configs (tests, GPU benchmark).
The registry (``aotd.tools.registry``) wires them to ``tools.models`` in the run config.
"""

from aotd.tools.hf.clip_window import ClipWindowGrounder, best_window
from aotd.tools.hf.detect import GroundingDinoDetector, OwlDetector
from aotd.tools.hf.labels import ActionLabel, labels_from_classes, load_labels
from aotd.tools.hf.loading import LazyModel, ModelRef
from aotd.tools.hf.prep import ImagePrep, Processing
from aotd.tools.hf.video_llm import VideoLLM, VideoLLMGrounder, VideoLLMQA, VideoLLMRecognizer
from aotd.tools.hf.xclip import XClipRecognizer

__all__ = ["ActionLabel", "ClipWindowGrounder", "GroundingDinoDetector", "ImagePrep", "LazyModel", "ModelRef",
           "OwlDetector", "Processing", "VideoLLM", "VideoLLMGrounder", "VideoLLMQA", "VideoLLMRecognizer",
           "XClipRecognizer", "best_window", "labels_from_classes", "load_labels"]
