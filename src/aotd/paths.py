"""Where aotd keeps what it can rebuild: trained embedded models, tool outputs, LLM replies."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$AOTD_CACHE``, else ``$XDG_CACHE_HOME/aotd``, else ``~/.cache/aotd``."""
    if os.environ.get("AOTD_CACHE"):
        return Path(os.environ["AOTD_CACHE"])
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "aotd"
    return Path.home() / ".cache" / "aotd"
