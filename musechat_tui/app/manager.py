"""Between the UI and the engine/storage: everything the chat app asks for, in plain calls
that the screen runs in worker threads. No Textual here, so it is usable (and testable)
without a terminal.

One lock serialises every use of the engine: the session store is one SQLite connection,
and turns, feedback and explanation writes must not interleave. Explanations are pulled
one event at a time under the lock, so a reject pressed while the LLM writes waits for
one token, not for the whole explanation.

Heavy modules (torch via the encoders, onnxruntime, llama.cpp) are imported inside these
methods only, so importing the app costs nothing of them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from musechat_tui.config import Settings
from musechat_tui.errors import MuseChatError

if TYPE_CHECKING:
    from musechat_tui.analysis import VideoAnalysis
    from musechat_tui.catalog import TrackRecord
    from musechat_tui.engine import ChatEngine, Session, Turn
    from musechat_tui.export import ExportResult
    from musechat_tui.media.probe import MediaInfo
    from musechat_tui.playback import Section

# (settings, explainer) -> engine; tests pass one that reuses loaded encoders.
EngineFactory = Callable[[Settings, Any], "ChatEngine"]


class NoCatalogError(MuseChatError):
    """There is no usable catalog (missing, or empty): the app shows how to make one."""

    def __init__(self, directory: Path, detail: str) -> None:
        self.directory = directory
        super().__init__(detail)


@dataclass
class Thumbnails:
    """Keyframes for the video panel: small RGB arrays (H, W, 3) uint8."""

    images: list[Any]


class ChatManager:
    def __init__(
        self,
        settings: Settings,
        engine_factory: EngineFactory | None = None,
        image_encoder: Any = None,
        checkpoint: Path | None = None,
    ) -> None:
        self.settings = settings
        self.export_mode: str = settings.export_mode
        self._engine_factory = engine_factory
        self._checkpoint = checkpoint  # a trained recommender (musechat-tui --checkpoint)
        # The manager's own image encoder: the video is analysed while the engine (text
        # encoder, catalog) loads, and the engine is handed the analysis, never the file.
        self._image_encoder = image_encoder
        self._encoder_lock = threading.Lock()
        self.engine: ChatEngine | None = None
        self.session: Session | None = None
        self.analysis: VideoAnalysis | None = None
        self.notes: list[str] = []  # one-off remarks for the chat (explainer fallback, ...)
        self._lock = threading.RLock()
        self._tracks: dict[int, TrackRecord] = {}
        self.closed = threading.Event()

    # ------------------------------------------------------------------ setup
    def check_catalog(self) -> Path:
        """Fast (no models): the catalog exists and holds tracks, else NoCatalogError."""
        from musechat_tui.catalog import Catalog, CatalogError

        directory = Path(self.settings.catalog_path).expanduser()
        try:
            with Catalog.open(directory, readonly=True) as cat:
                cat.require_tracks()
                return cat.directory
        except CatalogError as exc:
            raise NoCatalogError(directory, str(exc)) from None

    def open(self) -> list[str]:
        """Build the engine (loads the text encoder: seconds). Returns notes to show."""
        with self._lock:
            if self.engine is None:
                explainer = self._explainer()
                if self._engine_factory is not None:
                    self.engine = self._engine_factory(self.settings, explainer)
                else:
                    from musechat_tui.engine import ChatEngine

                    self.engine = ChatEngine(
                        self.settings, explainer=explainer, checkpoint=self._checkpoint
                    )
                self.notes.extend(self.engine.notes)
            return list(self.notes)

    def _explainer(self) -> Any:
        """The guarded explainer the settings ask for; when it cannot even be built (no
        model file, endpoint not configured), the template with a note."""
        from musechat_tui.explain.guard import GuardedExplainer, build_guarded_explainer
        from musechat_tui.explain.template import TemplateExplainer

        try:
            return build_guarded_explainer(self.settings)
        except MuseChatError as exc:
            self.notes.append(f"The LLM is not available ({exc}); explanations use the template.")
            return GuardedExplainer(TemplateExplainer())

    # ------------------------------------------------------------------ video
    def probe_video(self, path: Path) -> MediaInfo:
        """Name, duration, resolution at once (no decoding); typed MediaError otherwise."""
        from musechat_tui.errors import NoVideoStreamError
        from musechat_tui.media import probe

        info = probe(path)
        if info.video_stream is None:
            raise NoVideoStreamError(path)
        return info

    def analyse(self, path: Path) -> VideoAnalysis:
        """Sample and encode frames (the image encoder loads on first use), or take the
        analysis from the cache when this video was analysed before."""
        from musechat_tui.analysis_cache import analyse_cached
        from musechat_tui.encoders import image_encoder_id

        encoder_id = image_encoder_id(self.settings, self._image_encoder)
        analysis = analyse_cached(
            Path(path).absolute(), self.settings, self.image_encoder, encoder_id
        )
        self.analysis = analysis
        return analysis

    def image_encoder(self) -> Any:
        with self._encoder_lock:
            if self._image_encoder is None:
                from musechat_tui.encoders import build_image_encoder

                self._image_encoder = build_image_encoder(self.settings)
            return self._image_encoder

    def thumbnails(self, path: Path, n: int = 6) -> Thumbnails:
        """Keyframes without the image encoder (a resumed session has no thumbnails)."""
        from musechat_tui.media import probe, sample_frames

        info = probe(path)
        fps = n / max(1.0, info.duration or 1.0)
        frames = list(sample_frames(path, fps=fps, size=128, max_frames=n, exact=False))
        return Thumbnails([f.image for f in frames])

    # ------------------------------------------------------------------ sessions
    def start(self, analysis: VideoAnalysis | None = None) -> Session:
        analysis = analysis or self.analysis
        if analysis is None:
            raise MuseChatError("no video has been analysed yet")
        with self._lock:
            engine = self._engine()
            self.session = engine.start(analysis)
        # the text model loads while the user reads the first answer, not on their request
        threading.Thread(target=engine.warm_up, name="warm-up", daemon=True).start()
        return self.session

    def resume(self, session_id: str) -> Session:
        with self._lock:
            engine = self._engine()
            self.session = engine.resume(session_id)  # "last" is the latest one
            self.notes.extend(n for n in engine.notes if n not in self.notes)
            return self.session

    def sessions(self) -> list[dict[str, Any]]:
        with self._lock:
            return self._engine().store.list()

    def recommend(self, text: str | None = None) -> Turn:
        with self._lock:
            return self._engine().recommend(self._session(), text)

    def explain(self, turn: Turn) -> Iterator[Any]:
        """Token/Replace/Done events; the lock is held per event, not for the whole text."""
        with self._lock:
            events = self._engine().explain(self._session(), turn)
        while True:
            with self._lock:
                try:
                    event = next(events)
                except StopIteration:
                    return
            yield event

    def feedback(self, track_id: int, kind: str) -> None:
        with self._lock:
            self._engine().feedback(self._session(), track_id, kind)  # type: ignore[arg-type]

    def chosen(self, selected: int | None) -> int | None:
        """The track to export: the latest accepted one, else the selected one."""
        if self.session is None:
            return selected
        return self.session.export_pick(selected)

    def cycle_export_mode(self) -> str:
        """The next export mode (auto -> duck -> mix -> replace -> auto); returns it."""
        from musechat_tui.config import EXPORT_MODE_CHOICES as order

        self.export_mode = order[(order.index(self.export_mode) + 1) % len(order)]
        return self.export_mode

    # ------------------------------------------------------------------ tracks
    def track(self, track_id: int) -> TrackRecord:
        """The catalog record (segments, energy curve), cached."""
        if track_id not in self._tracks:
            engine = self._engine()
            record = engine.catalog.get_track(track_id, segments=True)
            if record is None:
                raise MuseChatError(f"track {track_id} is no longer in the catalog")
            self._tracks[track_id] = record
        return self._tracks[track_id]

    def section(self, track_id: int) -> Section:
        from musechat_tui.playback import best_section

        video = self.session.video if self.session is not None else None
        return best_section(self.track(track_id), video)

    def export(
        self,
        track_id: int,
        out: Path | None = None,
        overwrite: bool = False,
        progress: Callable[[float], None] | None = None,
    ) -> ExportResult:
        """Export with `track_id` in the current export mode (slow: run it in a worker)."""
        from musechat_tui.export import export_session

        return export_session(
            self.settings,
            self._session(),
            self.track(track_id),
            out,
            mode=self.export_mode,  # type: ignore[arg-type]
            overwrite=overwrite,
            progress=progress,
        )

    # ------------------------------------------------------------------ helpers
    def _engine(self) -> ChatEngine:
        if self.engine is None:
            self.open()
        assert self.engine is not None
        return self.engine

    def _session(self) -> Session:
        if self.session is None:
            raise MuseChatError("no chat yet: the video is still being analysed")
        return self.session

    def close(self, wait: bool = True) -> None:
        """Close the engine. `wait=False` (quitting): skip it when a worker holds the
        engine; the process is ending and SQLite needs no goodbye."""
        self.closed.set()
        if not self._lock.acquire(timeout=-1 if wait else 0.2):
            return
        try:
            if self.engine is not None:
                self.engine.close()
                self.engine = None
        finally:
            self._lock.release()
