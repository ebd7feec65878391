"""Typed errors. Every message names the file (when there is one) and the cause, so the
CLI and the app can show it as is, without a traceback."""

from __future__ import annotations

from pathlib import Path


class MuseChatError(Exception):
    """Base of every error MuseChat reports to a user."""


class ConfigError(MuseChatError):
    """A setting is invalid (bad TOML, unknown model, bad value)."""


class ModelLoadError(MuseChatError):
    """A model's weights or files could not be found or loaded."""


class MediaError(MuseChatError):
    """A media file cannot be used. `path` is the file, `cause` a short reason."""

    cause_text = "cannot be read"

    def __init__(self, path: str | Path, cause: str | None = None) -> None:
        self.path = Path(path)
        self.cause = cause or self.cause_text
        super().__init__(f"{self.path}: {self.cause}")


class MediaMissingError(MediaError):
    cause_text = "file does not exist"


class MediaUnreadableError(MediaError):
    cause_text = "file cannot be opened (permission denied or not a regular file)"


class MediaEmptyError(MediaError):
    cause_text = "file is empty (0 bytes)"


class NotMediaError(MediaError):
    cause_text = "not an audio or video file (no known container format)"


class MediaCorruptError(MediaError):
    cause_text = "file is corrupt: its streams could not be decoded"


class MediaTruncatedError(MediaError):
    cause_text = "file is truncated: it ends before its streams do"


class NoAudioStreamError(MediaError):
    cause_text = "file has no audio stream"


class NoVideoStreamError(MediaError):
    cause_text = "file has no video stream"
