"""Export a finished video: the picture copied, the chosen track fitted and mixed under the
video's own sound, at a standard loudness (see export/video.py)."""

from musechat_tui.export.mixdown import MixMode, MixSettings
from musechat_tui.export.video import (
    ExportError,
    ExportExistsError,
    ExportResult,
    ModeChoice,
    default_export_path,
    export_session,
    export_video,
)

__all__ = [
    "ExportError",
    "ExportExistsError",
    "ExportResult",
    "MixMode",
    "MixSettings",
    "ModeChoice",
    "default_export_path",
    "export_session",
    "export_video",
]
