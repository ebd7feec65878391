"""The chat screen: chat log and video on top, the turn's recommendations below, the
now-playing bar and the input at the bottom.

Everything slow runs in thread workers (harlequin's pattern): the worker calls the
ChatManager and posts a message; the handlers here, on the UI thread, change widgets.
Engine work (start, turns, /new, /resume) is queued and runs one piece at a time, so the
user can type the next wish while the previous one is answered; explanations, previews,
exports and feedback have their own workers and never hold up typing.
"""

from __future__ import annotations

import contextlib
import logging
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.markup import escape as escape_markup
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input

from musechat_tui.app import commands
from musechat_tui.app import messages as m
from musechat_tui.app.manager import ChatManager, NoCatalogError
from musechat_tui.app.widgets import (
    Busy,
    ChatLog,
    NowPlaying,
    PromptInput,
    RecommendationsTable,
    VideoPanel,
)
from musechat_tui.app.workers import Cancelled, cancelled, detached, spawn
from musechat_tui.clock import clock
from musechat_tui.errors import MediaError, MuseChatError
from musechat_tui.sanitize import clean

if TYPE_CHECKING:
    from musechat_tui.engine import Recommendation, Session, Turn
    from musechat_tui.playback import Player

log = logging.getLogger(__name__)

EXPORT_MODE_TEXT = {
    "auto": "duck when the video has its own sound, else replace it",
    "duck": "the music dips under the video's own speech",
    "mix": "the music under the video's own sound",
    "replace": "the music replaces the video's own sound",
}

# What the progress indicator says for each kind of work.
BUSY_TEXT = {
    "catalog": "opening the catalog",
    "models": "loading models",
    "analyse": "analysing the video",
    "turn": "finding music",
    "explain": "writing the explanation",
    "preview": "decoding the preview",
    "export": "exporting",
    "resume": "loading the chat",
}


class ChatScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark,f1", "help", "Help"),
        Binding("e", "export", "Export"),
        Binding("m", "export_mode", "Mode"),
        Binding("left_square_bracket", "turn(-1)", "Prev turn"),
        Binding("right_square_bracket", "turn(1)", "Next turn"),
        Binding("escape", "focus_list", "List", show=False),
    ]

    def __init__(self, video: Path | None = None, resume: str | None = None) -> None:
        super().__init__()
        self.video = Path(video) if video is not None else None
        self.resume_id = resume
        self.turns: list[Turn] = []
        self.view = -1  # index in self.turns of the turn the table shows
        self.pending: deque[tuple[str, Any]] = deque()
        self.engine_busy = False
        self.previews_off: str | None = None
        self.tracks: dict[int, tuple[Any, Any]] = {}  # id -> (TrackRecord, Section)
        # Verdicts as the user gave them (ahead of the feedback worker, so a quick second
        # `r` restores instead of rejecting twice).
        self.verdicts: dict[int, str] = {}
        self._last_state = "stopped"

    # ------------------------------------------------------------------ layout
    def compose(self) -> Any:
        yield Header()
        with Horizontal(id="top"):
            yield ChatLog(id="chat")
            with Vertical(id="side"):
                yield VideoPanel(id="video")
                yield Busy(id="busy")
        yield RecommendationsTable(id="recs")
        yield NowPlaying(id="now-playing")
        yield PromptInput(id="prompt")
        yield Footer()

    @property
    def manager(self) -> ChatManager:
        return self.app.manager  # type: ignore[attr-defined,no-any-return]

    @property
    def player(self) -> Player:
        return self.app.player  # type: ignore[attr-defined,no-any-return]

    @property
    def chat(self) -> ChatLog:
        return self.query_one(ChatLog)

    @property
    def table(self) -> RecommendationsTable:
        return self.query_one(RecommendationsTable)

    @property
    def bar(self) -> NowPlaying:
        return self.query_one(NowPlaying)

    @property
    def prompt(self) -> PromptInput:
        return self.query_one(PromptInput)

    @property
    def session(self) -> Session | None:
        return self.manager.session

    def on_mount(self) -> None:
        self.query_one("#chat").border_title = "Chat"
        self.query_one("#video").border_title = "Video"
        self.table.border_title = "Recommendations"
        self.prompt.focus()
        self.set_interval(0.25, self._tick_playback)
        if self.resume_id:
            self.chat.add_system(f"Resuming chat {self.resume_id}…")
        elif self.video is not None:
            self.query_one(VideoPanel).set_path(str(self.video))
            self.chat.add_system(
                f"Finding music for {self.video.name}. Type a wish at any time, "
                "e.g. “calm piano”; ? shows every key."
            )
        self._run_engine("startup", (self.video, self.resume_id))

    # ------------------------------------------------------------------ engine queue
    def _run_engine(self, kind: str, arg: Any) -> None:
        """Start engine work now, or queue it behind the running piece."""
        if self.engine_busy:
            self.pending.append((kind, arg))
            return
        self.engine_busy = True
        starters: dict[str, Callable[[Any], Any]] = {
            "startup": lambda a: self._startup(*a),
            "turn": self._turn,
            "new": lambda _: self._new_session(),
            "resume": self._resume,
        }
        if kind in ("turn", "new") and self.session is None:
            self.engine_busy = False
            self.chat.add_system(
                "There is no video to talk about yet: give one with /open PATH.", "error"
            )
            self._next_engine()
            return
        starters[kind](arg)

    def _next_engine(self) -> None:
        if self.pending and not self.engine_busy:
            kind, arg = self.pending.popleft()
            self._run_engine(kind, arg)

    @on(m.WorkDone)
    def _work_done(self, message: m.WorkDone) -> None:
        self.engine_busy = False
        self._next_engine()

    def _busy(self, key: str, on: bool = True) -> None:
        """From any thread: start/end a line of the progress indicator."""
        self.post_message(m.BusyChanged(key, BUSY_TEXT[key] if on else None))

    @on(m.BusyChanged)
    def _busy_changed(self, message: m.BusyChanged) -> None:
        busy = self.query_one(Busy)
        if message.text is None:
            busy.end(message.key)
        else:
            busy.begin(message.key, message.text)

    def _guard(self, what: str, exc: BaseException) -> None:
        """A worker failed: one clear line in the chat, never a crash."""
        if isinstance(exc, MuseChatError):
            self.post_message(m.Problem(f"{what}: {exc}"))
        else:
            log.exception("%s failed", what)
            self.post_message(m.Problem(f"{what}: unexpected error ({type(exc).__name__}: {exc})"))

    # ------------------------------------------------------------------ workers: engine
    @work(thread=True, group="engine", exit_on_error=False)
    def _startup(self, video: Path | None, resume: str | None) -> None:
        mgr = self.manager
        try:
            self._busy("catalog")
            try:
                detached(mgr.check_catalog)
            except NoCatalogError as exc:
                self.post_message(m.CatalogMissing(exc.directory, str(exc)))
                return
            finally:
                self._busy("catalog", False)
            if resume:
                self._load_models()
                self._resume_session(resume)
                return
            if video is None:
                self.post_message(m.Note("No video given: open one with /open PATH.", "error"))
                return
            try:
                info = detached(mgr.probe_video, video)
            except MediaError as exc:
                self.post_message(m.VideoFailed(video, str(exc)))
                return
            self.post_message(m.VideoProbed(info))
            # Models and video side by side: neither needs the other.
            models = None if mgr.engine is not None else spawn(self._load_models)
            self._busy("analyse")
            try:
                analysis = detached(mgr.analyse, video)
            except MediaError as exc:
                self.post_message(m.VideoFailed(video, str(exc)))
                return
            finally:
                self._busy("analyse", False)
            self.post_message(m.VideoAnalysed(analysis))  # thumbnails now, models or not
            if models is not None:
                models.result()
            session = detached(mgr.start, analysis)
            self.post_message(m.SessionReady(session, resumed=False))
            self._recommend(None)
        except Cancelled:
            return
        except Exception as exc:  # noqa: BLE001 - shown in the chat
            self._guard("starting the chat failed", exc)
        finally:
            self.post_message(m.WorkDone("startup"))

    def _load_models(self) -> None:
        """Runs in the worker, or beside it (spawn): posts its own result."""
        self._busy("models")
        try:
            notes = detached(self.manager.open)
        finally:
            self._busy("models", False)
        self.post_message(m.EngineReady(notes))

    def _resume_session(self, session_id: str) -> None:
        self._busy("resume")
        try:
            session = detached(self.manager.resume, session_id)
        finally:
            self._busy("resume", False)
        self.post_message(m.SessionReady(session, resumed=True))
        path = Path(session.video.path)
        try:
            info = detached(self.manager.probe_video, path)
            thumbs = detached(self.manager.thumbnails, path)
            self.post_message(m.ThumbnailsReady(thumbs.images, info))
        except MediaError as exc:
            self.post_message(
                m.Note(f"The session's video cannot be read ({exc}); export is unavailable.")
            )

    def _recommend(self, text: str | None) -> None:
        self._busy("turn")
        try:
            turn = detached(self.manager.recommend, text)
        finally:
            self._busy("turn", False)
        self.post_message(m.TurnReady(turn))

    @work(thread=True, group="engine", exit_on_error=False)
    def _turn(self, text: str) -> None:
        try:
            self._recommend(text)
        except Cancelled:
            return
        except Exception as exc:  # noqa: BLE001
            self._guard("that turn failed", exc)
        finally:
            self.post_message(m.WorkDone("turn"))

    @work(thread=True, group="engine", exit_on_error=False)
    def _new_session(self) -> None:
        mgr = self.manager
        try:
            video = mgr.analysis or (mgr.session.video if mgr.session else None)
            session = detached(mgr.start, video)
            self.post_message(m.SessionReady(session, resumed=False))
            self._recommend(None)
        except Cancelled:
            return
        except Exception as exc:  # noqa: BLE001
            self._guard("starting over failed", exc)
        finally:
            self.post_message(m.WorkDone("new"))

    @work(thread=True, group="engine", exit_on_error=False)
    def _resume(self, session_id: str) -> None:
        try:
            self._resume_session(session_id)
        except Cancelled:
            return
        except Exception as exc:  # noqa: BLE001
            self._guard(f"resuming {session_id} failed", exc)
        finally:
            self.post_message(m.WorkDone("resume"))

    @work(thread=True, group="explain", exclusive=True, exit_on_error=False)
    def _explain(self, turn: Turn) -> None:
        events = None
        self._busy("explain")
        try:
            events = self.manager.explain(turn)
            while not cancelled():
                event = detached(next, events, None)
                if event is None:
                    break
                self.post_message(m.Explained(turn.turn, event))
            else:
                self.post_message(m.Explained(turn.turn, None))  # replaced by a newer one
        except Cancelled:
            self.post_message(m.Explained(turn.turn, None))
        except Exception as exc:  # noqa: BLE001
            self._guard("the explanation failed", exc)
        finally:
            if events is not None:
                # Stops the LLM (the guard cancels its stream); fails harmlessly when an
                # abandoned call is still inside the generator.
                with contextlib.suppress(Exception):
                    events.close()
            self._busy("explain", False)

    @work(thread=True, group="sessions", exit_on_error=False)
    def _list_sessions(self) -> None:
        try:
            self.post_message(m.SessionsListed(detached(self.manager.sessions)))
        except Exception as exc:  # noqa: BLE001
            self._guard("listing the chats failed", exc)

    # ------------------------------------------------------------------ workers: tracks
    @work(thread=True, group="feedback", exit_on_error=False)
    def _feedback(self, rec: Recommendation, kind: str) -> None:
        try:
            detached(self.manager.feedback, rec.id, kind)
            self.post_message(m.FeedbackSaved(rec.id, kind, rec.title))
        except Exception as exc:  # noqa: BLE001
            self._guard("saving that failed", exc)

    @work(thread=True, group="track", exclusive=True, exit_on_error=False)
    def _load_track(self, track_id: int) -> None:
        try:
            record = detached(self.manager.track, track_id)
            section = detached(self.manager.section, track_id)
            self.post_message(m.TrackLoaded(track_id, record, section))
        except Cancelled:
            return
        except Exception as exc:  # noqa: BLE001 - the bar just shows no sparkline
            log.warning("track %s: %s", track_id, exc)

    @work(thread=True, group="preview", exclusive=True, exit_on_error=False)
    def _preview(self, rec: Recommendation) -> None:
        from musechat_tui.playback import PlaybackUnavailable

        self._busy("preview")
        try:
            self.player.device()  # before decoding anything: no device, no work
            record = detached(self.manager.track, rec.id)
            section = detached(self.manager.section, rec.id)
            data, rate = detached(self.player.prepare, record, section)
            if cancelled():
                return
            self.player.play(rec.id, section, data, rate)
            self.post_message(m.PreviewStarted(rec.id))
        except PlaybackUnavailable as exc:
            self.post_message(m.PreviewUnavailable(str(exc)))
        except Cancelled:
            return
        except Exception as exc:  # noqa: BLE001
            self._guard("the preview failed", exc)
        finally:
            self._busy("preview", False)

    @work(thread=True, group="export", exit_on_error=False)
    def _export(self, track_id: int, title: str, out: Path | None, overwrite: bool) -> None:
        from musechat_tui.export import ExportExistsError

        self._busy("export")
        shown = [-1]

        def progress(share: float) -> None:  # the export's thread: one message per 5 %
            step = int(share * 20)
            if step != shown[0]:
                shown[0] = step
                self.post_message(m.BusyChanged("export", f"exporting {step * 5} %"))

        try:
            result = detached(self.manager.export, track_id, out, overwrite, progress)
            self.post_message(m.Exported(result, title))
        except ExportExistsError as exc:
            self.post_message(m.ExportExists(exc.path, track_id, out))
        except Cancelled:
            return
        except Exception as exc:  # noqa: BLE001
            self._guard("the export failed", exc)
        finally:
            self._busy("export", False)

    # ------------------------------------------------------------------ worker results
    @on(m.CatalogMissing)
    def _catalog_missing(self, message: m.CatalogMissing) -> None:
        from musechat_tui.app.screens.no_catalog import NoCatalogScreen

        self.pending.clear()
        self.app.push_screen(NoCatalogScreen(message.directory, message.detail))

    @on(m.VideoProbed)
    def _video_probed(self, message: m.VideoProbed) -> None:
        self.query_one(VideoPanel).set_info(message.info)

    @on(m.VideoAnalysed)
    def _video_analysed(self, message: m.VideoAnalysed) -> None:
        self.query_one(VideoPanel).set_analysis(message.analysis)

    @on(m.ThumbnailsReady)
    def _thumbnails(self, message: m.ThumbnailsReady) -> None:
        panel = self.query_one(VideoPanel)
        panel.set_info(message.info)
        panel.set_thumbnails(message.images, message.info)

    @on(m.VideoFailed)
    def _video_failed(self, message: m.VideoFailed) -> None:
        self.query_one(VideoPanel).set_error(message.detail)
        self.chat.add_system(
            f"I cannot read the video: {message.detail}\nOpen another with /open PATH.",
            "error",
        )

    @on(m.EngineReady)
    def _engine_ready(self, message: m.EngineReady) -> None:
        for note in message.notes:
            self.chat.add_system(note, "note")

    @on(m.SessionReady)
    def _session_ready(self, message: m.SessionReady) -> None:
        session = message.session
        self.player.stop()
        self.turns = list(session.turns)
        self.view = len(self.turns) - 1
        self.verdicts = dict(session.verdicts)
        self.app.sub_title = escape_markup(clean(Path(session.video.path).name))
        if message.resumed:
            self.query_one(VideoPanel).set_path(session.video.path)
            self.query_one(VideoPanel).set_status(session.video.description)
            self.chat.add_system(
                f"Resumed chat {session.id} about {Path(session.video.path).name} "
                f"({len(session.turns)} turn{'s' if len(session.turns) != 1 else ''})."
            )
            for turn in session.turns:
                if turn.user:
                    self.chat.add_user(turn.user)
                    self.prompt.remember(turn.user)
                msg = self.chat.add_turn(turn, Path(session.video.path).name)
                msg.finish(turn.explanation)
            if self.turns:
                self._show_turn(len(self.turns) - 1)
        elif len(self.chat.query("TurnMessage")):
            self.chat.add_system(f"Started over: a new chat about {session.video.name}.")

    @on(m.TurnReady)
    def _turn_ready(self, message: m.TurnReady) -> None:
        turn = message.turn
        self.turns = list(self.session.turns) if self.session else [turn]
        video = self.session.video.name if self.session else ""
        self.chat.add_turn(turn, video)
        self._show_turn(len(self.turns) - 1)
        # Focus stays where the user put it: the list's one-letter keys must never catch
        # a message being typed.
        if turn.recommendations:
            self._explain(turn)

    @on(m.Explained)
    def _explained(self, message: m.Explained) -> None:
        from musechat_tui.explain.base import Done, Replace, Token

        msg = self.chat.turn_message(message.number)
        if msg is None:
            return
        event = message.event
        if isinstance(event, Token):
            msg.token(event.text)
        elif isinstance(event, Replace):
            msg.replace(event.text)
        elif isinstance(event, Done):
            # An LLM that failed or strayed is silent here: the planned text is shown, the
            # reason goes to the log and the turn's notes (--json).
            msg.finish(event.text, None)
        elif event is None and not msg.done:
            msg.finish(None, "(explanation skipped: a newer answer came first)")
        self.chat.changed()

    @on(m.Problem)
    def _problem(self, message: m.Problem) -> None:
        self.chat.add_system(message.detail, "error")

    @on(m.Note)
    def _note(self, message: m.Note) -> None:
        self.chat.add_system(message.text, message.kind)  # type: ignore[arg-type]

    @on(m.SessionsListed)
    def _sessions_listed(self, message: m.SessionsListed) -> None:
        if not message.rows:
            self.chat.add_system("No saved chats yet.")
            return
        lines = ["Saved chats (continue one with /resume ID):"]
        for r in message.rows[:10]:
            last = f" — last: “{r['last_ask']}”" if r["last_ask"] else ""
            lines.append(
                f"  {r['id']}  {r['updated_at'][:16]}  {Path(r['video']).name}  "
                f"{r['turns']} turn(s){last}"
            )
        self.chat.add_system("\n".join(lines))

    # ------------------------------------------------------------------ the table
    def _show_turn(self, index: int) -> None:
        if not self.turns:
            return
        self.view = max(0, min(index, len(self.turns) - 1))
        turn = self.turns[self.view]
        self.table.show_turn(turn, self._verdicts())
        what = "the video alone" if turn.user is None else f"“{clean(turn.user, limit=40)}”"
        # Border titles are markup: the user's words must not be read as markup.
        self.table.border_title = escape_markup(f"Turn {turn.turn} of {len(self.turns)} · {what}")
        more = len(self.turns) > 1
        self.table.border_subtitle = escape_markup("[ ] earlier/later turns") if more else ""
        self._selection_changed()

    def _verdicts(self) -> dict[int, str]:
        return dict(self.verdicts)

    def _selection_changed(self) -> None:
        rec = self.table.selected
        if rec is None:
            self.bar.show(None)
            self.bar.set_track(None, None)
            return
        self._update_bar()
        known = self.tracks.get(rec.id)
        if known is not None:
            self.bar.set_track(*known)
            self._update_bar()
        else:
            self.bar.set_track(None, None)
            self._load_track(rec.id)

    @on(DataTable.RowHighlighted)
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._selection_changed()

    @on(m.TrackLoaded)
    def _track_loaded(self, message: m.TrackLoaded) -> None:
        self.tracks[message.track_id] = (message.record, message.section)
        rec = self.table.selected
        if rec is not None and rec.id == message.track_id:
            self.bar.set_track(message.record, message.section)
            self._update_bar()

    def _update_bar(self, message: str | None = None) -> None:
        preview = self.player.preview
        state = self.player.state
        rec = self.table.selected
        if preview is not None and state != "stopped":
            playing = self._rec_by_id(preview.track_id) or rec
            self.bar.show(playing, state, preview.position, preview.section, message)
            return
        section = self.tracks.get(rec.id, (None, None))[1] if rec else None
        self.bar.show(rec, "stopped", None, section, message or self.previews_off)

    def _rec_by_id(self, track_id: int) -> Recommendation | None:
        for turn in reversed(self.turns):
            for rec in turn.recommendations:
                if rec.id == track_id:
                    return rec
        return None

    @on(RecommendationsTable.Action)
    def _table_action(self, message: RecommendationsTable.Action) -> None:
        rec = message.rec
        if rec is None:
            return
        if message.action == "play":
            self.play(rec)
        elif message.action == "accept":
            self.verdict(rec, "accepted")
        elif message.action == "reject":
            self.verdict(rec, "rejected")

    @on(RecommendationsTable.TypeAhead)
    def _type_ahead(self, message: RecommendationsTable.TypeAhead) -> None:
        self.prompt.focus()
        if message.character:
            self.prompt.insert_text_at_cursor(message.character)

    # ------------------------------------------------------------------ actions
    def play(self, rec: Recommendation) -> None:
        if self.previews_off:
            self._update_bar()
            self.app.bell()
            return
        preview = self.player.preview
        if preview is not None and preview.track_id == rec.id and self.player.state != "stopped":
            self.player.toggle_pause()
            self._update_bar()
            return
        self.player.stop()
        self.bar.show(rec, "loading")
        self._preview(rec)

    def action_stop(self) -> None:
        self.player.stop()
        self._update_bar()
        self.table.refresh_verdicts(self._verdicts(), None)

    def _tick_playback(self) -> None:
        if self.app._player is None:  # type: ignore[attr-defined] - nothing played yet
            return
        state = self.player.state
        if state != "stopped" or self._last_state != "stopped":
            self._update_bar()
            if state == "stopped":  # played out
                self.table.refresh_verdicts(self._verdicts(), None)
        self._last_state = state

    @on(m.PreviewStarted)
    def _preview_started(self, message: m.PreviewStarted) -> None:
        self._last_state = "playing"  # so the tick notices even a preview that ends at once
        self.table.refresh_verdicts(self._verdicts(), message.track_id)
        self._update_bar()

    @on(m.PreviewUnavailable)
    def _preview_unavailable(self, message: m.PreviewUnavailable) -> None:
        first = self.previews_off is None
        self.previews_off = "previews off: no audio output"
        if first:  # one clear message; the chat goes on
            self.chat.add_system(
                f"{message.detail[:1].upper()}{message.detail[1:]}. "
                "The chat goes on without previews.",
                "note",
            )
        self._update_bar()

    def verdict(self, rec: Recommendation, kind: str) -> None:
        if self.session is None:
            return
        current = self.verdicts.get(rec.id)
        if kind == "rejected" and current == "rejected":
            kind = "restored"
        elif kind == "accepted" and current == "accepted":
            self.chat.add_system(f"“{clean(rec.title)}” is already accepted; e exports it.")
            return
        if kind == "restored":
            self.verdicts.pop(rec.id, None)
        else:
            self.verdicts[rec.id] = kind
        if kind == "rejected" and self.player.preview and self.player.preview.track_id == rec.id:
            self.player.stop()
        self.table.refresh_verdicts(self._verdicts(), self._playing())
        self._feedback(rec, kind)

    def _playing(self) -> int | None:
        preview = self.player.preview
        return preview.track_id if preview is not None and self.player.state != "stopped" else None

    @on(m.FeedbackSaved)
    def _feedback_saved(self, message: m.FeedbackSaved) -> None:
        title = clean(message.title, limit=60)
        text = {
            "accepted": f"✓ Accepted “{title}”: the next turns build on it; e exports it "
            "under your video.",
            "rejected": f"✗ Rejected “{title}”: it will not come back (r again restores it).",
            "restored": f"Restored “{title}”.",
        }[message.kind]
        self.chat.add_system(text, "ok" if message.kind == "accepted" else "info")

    def action_export(self, out: Path | None = None, overwrite: bool = False) -> None:
        selected = self.table.selected
        track_id = self.manager.chosen(selected.id if selected else None)
        if self.session is None or track_id is None:
            self.chat.add_system("Nothing to export yet: wait for the recommendations.", "note")
            return
        rec = self._rec_by_id(track_id)
        title = rec.title if rec else f"track {track_id}"
        self.chat.add_system(f"Exporting {Path(self.session.video.path).name} with “{title}”…")
        self._export(track_id, title, out, overwrite)

    def action_export_mode(self) -> None:
        mode = self.manager.cycle_export_mode()
        self.chat.add_system(f"Export mode: {mode} ({EXPORT_MODE_TEXT[mode]}).")

    @on(m.Exported)
    def _exported(self, message: m.Exported) -> None:
        r = message.result
        where = "from the top, looped" if r.loops else f"from {clock(r.music_start)}"
        music = f"“{clean(message.title, limit=60)}” {where}, {EXPORT_MODE_TEXT[r.mode]}"
        level = f"{r.lufs:.1f} LUFS, true peak {r.true_peak_dbtp:.1f} dBTP"
        notes = "".join(f"\n{clean(n)}" for n in r.notes)
        self.chat.add_system(
            f"Wrote {r.path}\n({clock(r.video_duration)}: {music}; {level}).{notes}", "ok"
        )
        self.app.notify(f"Wrote {clean(r.path.name)}", title="Export", markup=False)

    @on(m.ExportExists)
    def _export_exists(self, message: m.ExportExists) -> None:
        from musechat_tui.app.screens.confirm import ConfirmScreen

        def answer(yes: bool | None) -> None:
            if yes:
                rec = self._rec_by_id(message.track_id)
                title = rec.title if rec else f"track {message.track_id}"
                self._export(message.track_id, title, message.path, True)
            else:
                self.chat.add_system(
                    f"Kept the existing {message.path}; /export PATH writes elsewhere."
                )

        self.app.push_screen(
            ConfirmScreen(f"{message.path} already exists.\nReplace it with this export?"),
            answer,
        )

    def action_turn(self, step: int) -> None:
        if self.turns:
            self._show_turn(self.view + step)

    def action_help(self) -> None:
        from musechat_tui.app.screens.help import HelpScreen

        self.app.push_screen(HelpScreen())

    def action_focus_list(self) -> None:
        self.table.focus()

    def action_quit(self) -> None:
        self.app.exit()

    # ------------------------------------------------------------------ input
    @on(Input.Submitted, "#prompt")
    def _submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        self.prompt.value = ""
        if not text:
            return
        self.prompt.remember(text)
        self.handle(text)

    def handle(self, text: str) -> None:
        """A line from the input: a command, or a wish for the next turn."""
        try:
            parsed = commands.parse(text)
        except KeyError as exc:
            self.chat.add_system(f"Unknown command /{exc.args[0]}: /help lists them.", "error")
            return
        if parsed is None:
            self.chat.add_user(text)
            if self.engine_busy and self.session is None:
                self.chat.add_system("(I will answer once the video is analysed.)", "note")
            self._run_engine("turn", text)
            return
        command, args = parsed
        getattr(self, f"command_{command.name}")(args)

    def _numbered(self, args: str) -> Recommendation | None:
        """The track #N of the shown turn, or the selected one."""
        if not args:
            return self.table.selected
        turn = self.turns[self.view] if self.turns else None
        try:
            n = int(args.lstrip("#"))
        except ValueError:
            n = 0
        if turn is None or not 1 <= n <= len(turn.recommendations):
            self.chat.add_system(f"There is no #{args} in the list.", "error")
            return None
        self.table.move_cursor(row=n - 1)
        return turn.recommendations[n - 1]

    def command_help(self, args: str) -> None:
        self.action_help()

    def command_export(self, args: str) -> None:
        out = None
        word, _, rest = args.strip().partition(" ")
        if word in EXPORT_MODE_TEXT:
            self.manager.export_mode = word
            args = rest.strip()
        if args:
            out = Path(args).expanduser()
            if out.is_dir() and self.session is not None:
                from musechat_tui.export import default_export_path

                out = out / default_export_path(self.session.video.path).name
        self.action_export(out)

    def command_new(self, args: str) -> None:
        self._run_engine("new", None)

    def command_open(self, args: str) -> None:
        if not args:
            self.chat.add_system("Which video? /open PATH", "error")
            return
        path = Path(args).expanduser()
        self.video = path
        self.query_one(VideoPanel).set_path(str(path))
        self.query_one(VideoPanel).set_thumbnails([])
        self.query_one(VideoPanel).set_status("")
        self.chat.add_system(f"Finding music for {path.name}…")
        self._run_engine("startup", (path, None))

    def command_play(self, args: str) -> None:
        rec = self._numbered(args)
        if rec is not None:
            self.play(rec)

    def command_stop(self, args: str) -> None:
        self.action_stop()

    def command_accept(self, args: str) -> None:
        rec = self._numbered(args)
        if rec is not None:
            self.verdict(rec, "accepted")

    def command_reject(self, args: str) -> None:
        rec = self._numbered(args)
        if rec is not None:
            self.verdict(rec, "rejected")

    def command_turn(self, args: str) -> None:
        try:
            n = int(args)
        except ValueError:
            self.chat.add_system("Which turn? /turn N", "error")
            return
        if not 1 <= n <= len(self.turns):
            self.chat.add_system(f"There is no turn {n} (there are {len(self.turns)}).", "error")
            return
        self._show_turn(n - 1)

    def command_sessions(self, args: str) -> None:
        self._list_sessions()

    def command_resume(self, args: str) -> None:
        if not args:
            self.chat.add_system("Which chat? /resume ID (see /sessions)", "error")
            return
        self._run_engine("resume", args.split()[0])

    def command_quit(self, args: str) -> None:
        self.action_quit()

    def status_text(self) -> Text:
        """What the progress indicator shows now (for tests)."""
        found = self.query(Busy)
        return Text(" · ".join(found.first().tasks.values()) if found else "")
