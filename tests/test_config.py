"""Run configs: the shipped default loads, bad files give one-line errors, oracles stay out of the agent."""

from __future__ import annotations

from pathlib import Path

import pytest

from aotd.agent.build import build_toolset
from aotd.config import Config, ToolChoice, load_config, save_config
from aotd.errors import AotdError

ROOT = Path(__file__).resolve().parents[1]


def test_shipped_embedded_config_loads() -> None:
    cfg = load_config(ROOT / "configs" / "embedded.yaml")
    assert cfg.tools.detection == "cnn" and cfg.planner.kind == "rules" and cfg.sandbox.isolate


def test_round_trip_and_digest(tmp_path: Path) -> None:
    cfg = Config(tools=ToolChoice(detection="color"))
    save_config(cfg, tmp_path / "c.yaml")
    again = load_config(tmp_path / "c.yaml")
    assert again == cfg and again.digest() == cfg.digest() != Config().digest()


@pytest.mark.parametrize(("text", "message"), [
    ("tools: [1, 2", "not valid YAML"),
    ("tools:\n  detector: cnn\n", "tools.detector"),
    ("sandbox:\n  timeout_s: -1\n", "sandbox.timeout_s"),
    ("planner:\n  kind: oracle\n", "planner.kind"),
])
def test_bad_configs_name_the_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(AotdError, match=message):
        load_config(path)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(AotdError, match="not found"):
        load_config(tmp_path / "nope.yaml")


def test_oracle_tools_are_refused_for_the_agent() -> None:
    with pytest.raises(AotdError, match="may not build CoTs"):
        build_toolset(ToolChoice(detection="oracle"))
    with pytest.raises(AotdError, match="unknown qa candidate 'prior'"):
        build_toolset(ToolChoice(qa="prior"))
    with pytest.raises(AotdError, match="unknown detection candidate"):
        build_toolset(ToolChoice(detection="yolo"))


def test_set_overrides_any_key_and_changes_the_digest(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    save_config(Config(), path)
    cfg = load_config(path, ["distill.train.lam=0.5", "cot.judge=llm", "sandbox.isolate=false",
                             "tools.models.owlv2.model=/weights/owlv2", "distill.train.lr=2e-3"])
    assert cfg.distill.train.lam == 0.5 and cfg.cot.judge == "llm" and cfg.sandbox.isolate is False
    assert cfg.tools.models["owlv2"].model == "/weights/owlv2" and cfg.distill.train.lr == 0.002
    assert cfg.digest("cot") != load_config(path).digest("cot")  # records made under it are told apart
    assert load_config(path, ["planner.kind=rules"]).digest() == load_config(path).digest()  # the default: no change


@pytest.mark.parametrize(("item", "message"), [
    ("distill.train.lam", "expected section.key=value"),
    ("lam=0.5", "expected section.key=value"),
    ("nosuch.key=1", "field 'nosuch'"),
    ("cot.nosuch=1", "field 'cot.nosuch'"),
    ("distill.train.lam=-1", "field 'distill.train.lam'"),
    ("cot.judge.x=1", "cot.judge is a value, not a section"),
])
def test_bad_overrides_are_one_line_naming_the_key(item: str, message: str) -> None:
    with pytest.raises(AotdError, match=message):
        load_config(None, [item])
