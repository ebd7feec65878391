"""The settings layers: defaults < TOML file < MUSECHAT_* env vars < CLI flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from musechat_tui.config import load_settings
from musechat_tui.errors import ConfigError


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("MUSECHAT_"):
            monkeypatch.delenv(key)


def test_defaults_use_platformdirs(tmp_path: Path) -> None:
    s = load_settings(tmp_path / "absent.toml")
    assert s.image_encoder == "efficientnet-lite0"
    assert s.text_encoder == "minilm"
    assert s.audio_encoder == "musicnn"
    assert s.top_k == 5
    assert "musechat" in str(s.data_dir)
    assert s.catalog_path == s.data_dir / "catalog"
    assert s.max_segments == 12


def test_layers_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('top_k = 7\nfps = 2.0\nthreads = 3\ndata_dir = "~/md"\n')
    s = load_settings(cfg)
    assert (s.top_k, s.fps, s.threads) == (7, 2.0, 3)
    assert s.data_dir == Path("~/md").expanduser()

    monkeypatch.setenv("MUSECHAT_TOP_K", "9")
    monkeypatch.setenv("MUSECHAT_FPS", "4")
    s = load_settings(cfg)
    assert (s.top_k, s.fps, s.threads) == (9, 4.0, 3)  # env beats file, file beats default

    s = load_settings(cfg, top_k=3, fps=None)
    assert (s.top_k, s.fps) == (3, 4.0)  # a flag beats env; an unset flag changes nothing


def test_config_file_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "elsewhere.toml"
    cfg.write_text("top_k = 11\n")
    monkeypatch.setenv("MUSECHAT_CONFIG", str(cfg))
    assert load_settings().top_k == 11


def test_bad_toml_names_the_file(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text("top_k = = 3\n")
    with pytest.raises(ConfigError, match="config.toml: invalid config file"):
        load_settings(cfg)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("top_k = 0\n", "top_k"),
        ('image_encoder = "resnet"\n', "image_encoder"),
        ("colour = 1\n", "colour"),
    ],
)
def test_bad_values_are_named(tmp_path: Path, text: str, field: str) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=field) as info:
        load_settings(cfg)
    assert str(cfg) in str(info.value)


def test_bad_env_value_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MUSECHAT_THREADS", "many")
    with pytest.raises(ConfigError, match="threads"):
        load_settings(tmp_path / "absent.toml")
