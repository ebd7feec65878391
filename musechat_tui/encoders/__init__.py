"""Encoders chosen by config. Imports are lazy: torch/onnxruntime load only when an encoder
is built, so the app's first screen does not wait for them."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import numpy as np

from musechat_tui.encoders.base import (
    AudioEncoder,
    AudioFeatures,
    ImageEncoder,
    Label,
    TextEncoder,
    TokenFeatures,
)

if TYPE_CHECKING:
    from musechat_tui.config import Settings

__all__ = [
    "audio_encoder_id",
    "image_encoder_id",
    "text_encoder_id",
    "AudioEncoder",
    "LazyTextEncoder",
    "AudioFeatures",
    "ImageEncoder",
    "Label",
    "TextEncoder",
    "TokenFeatures",
    "build_audio_encoder",
    "build_image_encoder",
    "build_text_encoder",
]


def build_image_encoder(settings: Settings) -> ImageEncoder:
    if settings.image_encoder == "clip":
        from musechat_tui.encoders.clip import ClipImageEncoder

        return ClipImageEncoder(
            settings.clip_model, batch_size=settings.batch_size, threads=settings.threads
        )
    from musechat_tui.encoders.efficientnet import EfficientNetLite0Encoder

    return EfficientNetLite0Encoder(batch_size=settings.batch_size, threads=settings.threads)


def image_encoder_id(settings: Settings, loaded: ImageEncoder | None = None) -> str:
    """The id of `loaded`, else the one `build_image_encoder(settings)` will have, without
    loading any weights."""
    if loaded is not None:
        return loaded.id
    if settings.image_encoder == "clip":
        from musechat_tui.encoders.clip import model_id

        return model_id("clip-image", settings.clip_model)
    from musechat_tui.encoders.efficientnet import EfficientNetLite0Encoder

    return EfficientNetLite0Encoder.id


def audio_encoder_id(settings: Settings) -> str:
    """The id `build_audio_encoder(settings)` will have, without loading any weights."""
    if settings.audio_encoder == "ast":
        from musechat_tui.encoders.ast import model_id

        return model_id(settings.ast_model)
    from musechat_tui.encoders.musicnn import MusicnnEncoder

    return MusicnnEncoder.id


def text_encoder_id(settings: Settings) -> str:
    """The id `build_text_encoder(settings)` will have, without loading any weights."""
    if settings.text_encoder == "clip":
        from musechat_tui.encoders.clip import model_id

        return model_id("clip-text", settings.clip_model)
    from musechat_tui.encoders.minilm import MiniLMTextEncoder

    return MiniLMTextEncoder.id


def build_text_encoder(settings: Settings) -> TextEncoder:
    if settings.text_encoder == "clip":
        from musechat_tui.encoders.clip import ClipTextEncoder

        return ClipTextEncoder(
            settings.clip_model, batch_size=settings.batch_size, threads=settings.threads
        )
    from musechat_tui.encoders.minilm import MiniLMTextEncoder

    return MiniLMTextEncoder(batch_size=settings.batch_size, threads=settings.threads)


class LazyTextEncoder(TextEncoder):
    """The configured text encoder, loaded on its first encode. Its `id` is known without
    loading, so vectors cached on disk by id (fixed banks, a reopened video's query) are
    found without the model: a reopen never loads it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.id = text_encoder_id(settings)
        self._loaded: TextEncoder | None = None
        self._lock = threading.Lock()

    def load(self) -> TextEncoder:
        with self._lock:  # the app may warm it on a worker while a turn asks for it
            if self._loaded is None:
                self._loaded = build_text_encoder(self.settings)
            return self._loaded

    @property
    def dim(self) -> int:  # type: ignore[override]
        return self.load().dim

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.load().encode(texts)

    def encode_tokens(self, texts: list[str]) -> TokenFeatures:
        return self.load().encode_tokens(texts)


def build_audio_encoder(settings: Settings) -> AudioEncoder:
    if settings.audio_encoder == "ast":
        from musechat_tui.encoders.ast import ASTAudioEncoder

        return ASTAudioEncoder(
            settings.ast_model, batch_size=settings.batch_size, threads=settings.threads
        )
    from musechat_tui.encoders.musicnn import MusicnnEncoder

    return MusicnnEncoder(
        settings.musicnn_dir, batch_size=settings.batch_size, threads=settings.threads
    )
