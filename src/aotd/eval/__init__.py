"""Step 4's evaluation metrics: multiple-choice parsing, open-ended judging, accuracy tables
(``metrics``) and the grounding of rationales against annotations, paper Table 7 (``grounding``)."""

from aotd.eval.grounding import (
    BoxScore,
    Grounding,
    GroundingScore,
    GroundTruth,
    PredBox,
    PredWindow,
    TemporalScore,
    box_scores,
    ground_truth,
    grounding_summary,
    load_video_meta,
    parse_grounding,
    sample_source_indices,
    score_grounding,
    temporal_scores,
)
from aotd.eval.metrics import (
    Accuracy,
    AccuracySummary,
    JudgeScore,
    LLMScoreJudge,
    accuracy_summary,
    judge_messages,
    normalized_match,
    parse_judge_reply,
)
from aotd.models.options import ParsedOption, parse_option, seeded_index

__all__ = [
    "Accuracy", "AccuracySummary", "BoxScore", "GroundTruth", "Grounding", "GroundingScore", "JudgeScore",
    "LLMScoreJudge", "ParsedOption", "PredBox", "PredWindow", "TemporalScore", "accuracy_summary", "box_scores",
    "ground_truth", "grounding_summary", "judge_messages", "load_video_meta", "normalized_match", "parse_grounding",
    "parse_judge_reply", "parse_option", "sample_source_indices", "score_grounding", "seeded_index", "temporal_scores",
]
