"""configs/*.yaml load and pass ``aotd check-config``; broken configs get one clear line per problem."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from aotd.cli import app
from aotd.config import Config, load_config
from aotd.config_check import check_config, looks_local

CONFIGS = Path(__file__).parent.parent / "configs"


def test_every_shipped_config_loads_and_checks_clean() -> None:
    names = sorted(p.name for p in CONFIGS.glob("*.yaml"))
    assert names == ["embedded.yaml", "paper.yaml"]
    for name in names:
        result = check_config(load_config(CONFIGS / name))
        assert result.errors == [], name


def test_paper_config_holds_the_papers_models_and_hyper_parameters() -> None:
    cfg = load_config(CONFIGS / "paper.yaml")
    assert (cfg.tools.detection, cfg.tools.recognition, cfg.tools.qa) == ("owlv2", "video-llm", "video-llm")
    assert cfg.tools.model_spec("video-llm").model == "llava-hf/LLaVA-NeXT-Video-7B-DPO-hf"
    assert cfg.tools.candidates.detection == ["owl-vit", "grounding-dino", "owlv2"]
    assert (cfg.planner.kind, cfg.planner.model) == ("llm", "deepseek-ai/deepseek-coder-6.7b-instruct")
    assert (cfg.cot.converter, cfg.cot.judge, cfg.cot.model) == ("llm", "llm", "meta-llama/Llama-3.1-8B-Instruct")
    d = cfg.distill
    assert (d.student, d.model, d.lora, d.freeze_vision, d.dtype) == (
        "llava-next-video", "llava-hf/LLaVA-NeXT-Video-7B-hf", False, True, "bfloat16")
    t = d.train
    assert (t.lam, t.lr, t.epochs, t.warmup_ratio, t.min_lr_ratio, t.mixed_precision) == (
        1.0, 4e-5, 1, 0.03, 0.0, "bf16")
    assert t.batch_size * t.grad_accum * 8 == 128  # LLaVA's global batch on 8 GPUs


def test_cli_lists_the_models_and_exits_zero() -> None:
    result = CliRunner().invoke(app, ["check-config", str(CONFIGS / "paper.yaml")])
    assert result.exit_code == 0, result.output
    assert "LLaVA-NeXT-Video-7B-DPO-hf" in result.output and result.output.rstrip().endswith("paper.yaml: ok")


def _broken(tmp_path: Path) -> Path:
    raw = yaml.safe_load((CONFIGS / "paper.yaml").read_text())
    raw["tools"]["detection"] = "owl-v3"
    raw["tools"]["labels"] = None
    raw["tools"]["candidates"]["qa"] = ["visual", "llava"]
    raw["planner"]["base_url"] = None
    raw["cot"]["model"] = None
    raw["distill"]["model"] = "./weights/not-here"
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_each_problem_is_named_with_its_key(tmp_path: Path) -> None:
    errors = check_config(load_config(_broken(tmp_path))).errors
    expected = ["owl-v3", "tools.candidates.qa", "tools.labels", "planner.base_url", "cot.model",
                "distill.model: ./weights/not-here is not a folder"]
    assert len(errors) == len(expected), errors
    for needle, error in zip(expected, errors):
        assert needle in error, (needle, error)
    result = CliRunner().invoke(app, ["check-config", str(_broken(tmp_path))])
    assert result.exit_code == 1


def test_default_config_needs_nothing() -> None:
    result = check_config(Config())
    assert result.errors == [] and result.models == []


@pytest.mark.parametrize(("model", "local"), [("llava-hf/LLaVA-NeXT-Video-7B-hf", False), ("/models/llava", True),
                                              ("./llava", True), ("~/w", True), ("a/b/c", True)])
def test_hub_ids_and_paths_are_told_apart(model: str, local: bool) -> None:
    assert looks_local(model) is local
