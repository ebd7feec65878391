"""What the workers tell the screen (posted from threads; handled on the UI thread)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.message import Message


class CatalogMissing(Message):
    def __init__(self, directory: Path, detail: str) -> None:
        super().__init__()
        self.directory = directory
        self.detail = detail


class VideoProbed(Message):
    def __init__(self, info: Any) -> None:
        super().__init__()
        self.info = info


class VideoAnalysed(Message):
    def __init__(self, analysis: Any) -> None:
        super().__init__()
        self.analysis = analysis


class VideoFailed(Message):
    def __init__(self, path: Path, detail: str) -> None:
        super().__init__()
        self.path = path
        self.detail = detail


class ThumbnailsReady(Message):
    def __init__(self, images: list[Any], info: Any) -> None:
        super().__init__()
        self.images = images
        self.info = info


class EngineReady(Message):
    def __init__(self, notes: list[str]) -> None:
        super().__init__()
        self.notes = notes


class SessionReady(Message):
    def __init__(self, session: Any, resumed: bool) -> None:
        super().__init__()
        self.session = session
        self.resumed = resumed


class TurnReady(Message):
    def __init__(self, turn: Any) -> None:
        super().__init__()
        self.turn = turn


class Explained(Message):
    """One explainer event (Token, Replace, Done) for turn `number`."""

    def __init__(self, number: int, event: Any) -> None:
        super().__init__()
        self.number = number
        self.event = event


class WorkDone(Message):
    """A queued piece of work (a turn, /new, /resume) ended, well or not."""

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key


class Problem(Message):
    def __init__(self, detail: str, key: str | None = None) -> None:
        super().__init__()
        self.detail = detail
        self.key = key


class Note(Message):
    def __init__(self, text: str, kind: str = "info") -> None:
        super().__init__()
        self.text = text
        self.kind = kind


class PreviewUnavailable(Message):
    def __init__(self, detail: str) -> None:
        super().__init__()
        self.detail = detail


class PreviewStarted(Message):
    def __init__(self, track_id: int) -> None:
        super().__init__()
        self.track_id = track_id


class TrackLoaded(Message):
    """Catalog details of a track (energy curve, preview section) for the bar."""

    def __init__(self, track_id: int, record: Any, section: Any) -> None:
        super().__init__()
        self.track_id = track_id
        self.record = record
        self.section = section


class Exported(Message):
    def __init__(self, result: Any, title: str) -> None:
        super().__init__()
        self.result = result
        self.title = title


class ExportExists(Message):
    def __init__(self, path: Path, track_id: int, out: Path | None) -> None:
        super().__init__()
        self.path = path
        self.track_id = track_id
        self.out = out


class BusyChanged(Message):
    """Progress indicator: `text` None ends the task `key`."""

    def __init__(self, key: str, text: str | None) -> None:
        super().__init__()
        self.key = key
        self.text = text


class FeedbackSaved(Message):
    def __init__(self, track_id: int, kind: str, title: str) -> None:
        super().__init__()
        self.track_id = track_id
        self.kind = kind
        self.title = title


class SessionsListed(Message):
    def __init__(self, rows: list[dict[str, Any]]) -> None:
        super().__init__()
        self.rows = rows
