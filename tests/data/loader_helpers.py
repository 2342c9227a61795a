"""Helpers shared by the loader tests: one-line error checks and fixture copies."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from aotd.data.schema import Dataset, QASample
from aotd.errors import DataError

FIXTURES = Path(__file__).parents[1] / "fixtures"


def fail(call: Callable[[], Any]) -> DataError:
    with pytest.raises(DataError) as info:
        call()
    assert "\n" not in str(info.value), "errors are one line"
    return info.value


def by_id(ds: Dataset) -> dict[str, QASample]:
    return {s.sample_id: s for s in ds.samples}


def copy_fixture(name: str, dest: Path) -> Path:
    shutil.copytree(FIXTURES / name, dest)
    return dest


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def edit_json(path: Path, change: Callable[[Any], None]) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
