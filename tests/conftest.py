"""Fixtures shared by several test files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import app_support as aps
import pytest
from engine_support import build_library
from llama_server import missing_requirement, serve

from musechat_tui.config import load_settings
from musechat_tui.encoders import build_text_encoder
from musechat_tui.explain.llama import packaged_model_path


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a real OpenAI-compatible server (llama.cpp + SmolLM2), one per run."""
    reason = missing_requirement()
    if reason:  # an install step, not hardware: fail
        pytest.fail(f"{reason}: scripts/install.sh installs it")
    log = tmp_path_factory.mktemp("llama_server") / "server.log"
    try:
        with serve(packaged_model_path(), log) as url:
            yield url
    except RuntimeError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def text_encoder() -> object:
    """MiniLM, loaded once per run."""
    return build_text_encoder(load_settings(Path("/nonexistent.toml"), threads=1))


@pytest.fixture(scope="session")
def library(tmp_path_factory: pytest.TempPathFactory, text_encoder: object) -> Path:
    """The engine tests' catalog of known tracks (tests/engine_support.py)."""
    return build_library(tmp_path_factory.mktemp("engine") / "catalog", text_encoder)


@pytest.fixture(scope="session")
def app_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The chat app tests' catalog and video (tests/app_support.py), built once."""
    return aps.prepare_root(lambda: tmp_path_factory.mktemp("app"))


@pytest.fixture(scope="session")
def encoders(app_root: Path) -> aps.Encoders:
    """Image and text encoders loaded once and shared by every app test's engine."""
    return aps.Encoders(aps.settings_for(app_root))
