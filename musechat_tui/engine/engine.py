"""The chat engine: a video, then as many refinement turns as the user likes.

    engine = ChatEngine(settings)                      # opens the catalog, picks the scorer
    session = engine.start(Path("my_video.mp4"))       # analyses the video
    turn = engine.recommend(session)                   # turn 1: the video alone
    for event in engine.explain(session, turn): ...    # Token / Replace / Done
    turn = engine.recommend(session, "more like #3 but no drums")
    engine.feedback(session, turn.recommendations[0].id, "accepted")

Each turn: read the words (requests.py) -> settle the anchor track and feedback the words
carry ("not #2") -> update the lasting preferences and plan this turn's filters
(constraints.py) -> candidates per relaxation level (SQL filters on the catalog) -> the
scorer's score + boosts/penalties -> top k. Everything is saved to the session store as it
happens. No UI code here; the CLI and the Textual app both drive this class.
"""

from __future__ import annotations

import logging
import statistics
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from musechat_tui.analysis import VideoAnalysis
from musechat_tui.analysis_cache import analyse_cached
from musechat_tui.catalog import Catalog, CatalogError, VectorIndex
from musechat_tui.config import Settings
from musechat_tui.encoders import LazyTextEncoder, build_image_encoder, image_encoder_id
from musechat_tui.engine.constraints import (
    Plan,
    Preferences,
    TurnFacts,
    adjustments,
    forget,
    like_artists,
    make_plan,
    matched_terms,
    relax,
    update_preferences,
)
from musechat_tui.engine.pool import TrackPool
from musechat_tui.engine.requests import NameBook, Request, parse_request
from musechat_tui.engine.scoring import Scorer, ScoringContext, ZeroShotScorer
from musechat_tui.engine.session import (
    FeedbackKind,
    Recommendation,
    Session,
    SessionStore,
    Turn,
)
from musechat_tui.engine.slate import diverse_slate
from musechat_tui.engine.video import VideoFeatures
from musechat_tui.engine.word_map import WordMap
from musechat_tui.errors import MuseChatError

if TYPE_CHECKING:
    from musechat_tui.explain.facts import ExplanationFacts, TrackFacts

log = logging.getLogger(__name__)

CHECKPOINT_NAME = "models/recommender.pt"  # default place of a trained checkpoint in data_dir
ANCHOR_NAMED = 1.5  # anchor weight when the user points at a track ("more like #3")
ANCHOR_IMPLIED = 1.0  # the previous pick
ANCHOR_AWAY = -0.8  # "something different"
_UNSET = object()  # the request LLM before the first typed request decides it


class EngineError(MuseChatError):
    """The engine cannot run a turn (empty catalog, unknown session)."""


def default_checkpoint(settings: Settings) -> tuple[Path | None, bool]:
    """(checkpoint path, explicitly configured). A `recommender_checkpoint` setting wins;
    else `DATA_DIR/models/recommender.pt` when it exists."""
    configured = settings.recommender_checkpoint
    if configured:
        return Path(configured).expanduser(), True
    auto = settings.data_dir / CHECKPOINT_NAME
    return (auto, False) if auto.is_file() else (None, False)


class ChatEngine:
    def __init__(
        self,
        settings: Settings,
        *,
        catalog_dir: Path | None = None,
        checkpoint: Path | None = None,
        explainer: Any = None,
        store: SessionStore | None = None,
        text_encoder: Any = None,
        image_encoder: Any = None,
    ) -> None:
        self.settings = settings
        self.catalog = Catalog.open(catalog_dir or settings.catalog_path, readonly=True)
        try:
            self.catalog.require_tracks()
        except CatalogError:
            self.catalog.close()
            raise
        self.pool = TrackPool.load(self.catalog)
        self.names = NameBook.build(
            self.pool.distinct_artists(),
            dict(zip(self.pool.ids.tolist(), self.pool.titles, strict=True)),
        )
        self.text_encoder = text_encoder or LazyTextEncoder(settings)
        self._image_encoder = image_encoder
        self.store = store if store is not None else SessionStore.in_data_dir(settings.data_dir)
        self._explainer = explainer
        self._lock = threading.RLock()  # one turn at a time (UI workers may overlap)
        self._encoder_lock = threading.Lock()
        self.notes: list[str] = []  # engine-level remarks (scorer choice) for the UI
        self._plans: dict[tuple[str, int], Plan] = {}  # for the explanation's "matched"
        self.scorer = self._choose_scorer(checkpoint)
        self._word_map: WordMap | None = None
        self._request_llm: Any = _UNSET  # built on the first typed request

    def _read_request(self, text: str) -> Request:
        """The rules' reading, or a configured LLM's (validated; the rules on failure)."""
        # imported on the first typed request: the first turn (the video alone) needs none
        from musechat_tui.engine.llm_request import build_request_llm, read_request

        rules = parse_request(text, self.names, self.word_map)
        if self._request_llm is _UNSET:
            try:
                self._request_llm = build_request_llm(self.settings)
            except MuseChatError as exc:  # a missing GGUF: the rules, and say why once
                log.warning("%s; requests are read by the rules", exc)
                self._request_llm = None
        req, _reader = read_request(text, self.names, rules, self._request_llm)
        return req

    @property
    def word_map(self) -> WordMap:
        """Open words of a request -> catalog tags and moods (built on the first request)."""
        if self._word_map is None:
            with one_torch_thread():
                self._word_map = WordMap(self.text_encoder, self.pool.tag_names)
        return self._word_map

    # ------------------------------------------------------------------ setup
    def _choose_scorer(self, checkpoint: Path | None) -> Scorer:
        """The scorer the settings ask for, with a note saying which one ranks and why."""
        mode = self.settings.scorer
        zero_shot = self._zero_shot = ZeroShotScorer(self.text_encoder)  # also reads scenes
        path, explicit = (checkpoint, True) if checkpoint else default_checkpoint(self.settings)
        if mode == "zero-shot" or (path is None and mode == "auto"):
            return zero_shot
        if path is None:
            raise EngineError(
                "scorer = learned, but there is no recommender checkpoint: set "
                "recommender_checkpoint or train one (musechat-trainer train)"
            )
        try:
            learned = self._load_learned(path)
        except MuseChatError as exc:
            if explicit or mode == "learned":
                raise
            self._note(f"trained recommender not used ({exc}); using zero-shot")
            return zero_shot
        if mode == "auto" and not explicit and learned.meta.get("synthetic_videos"):
            self._note(
                f"the trained recommender at {path} learned from synthetic visualiser videos "
                "only; the zero-shot scorer ranks real footage (set scorer = learned to use it)"
            )
            return zero_shot
        self._note(f"the trained recommender at {path} ranks the tracks")
        return learned

    def _load_learned(self, path: Path) -> Scorer:
        # imported here: the learned model needs torch, which the zero-shot start avoids
        from musechat_tui.engine.learned import LearnedScorer

        index = None
        if self.catalog.dim is not None:
            index, _ = VectorIndex.open_for(self.catalog)
        return LearnedScorer.load(
            path,
            text_encoder=self.text_encoder,
            catalog=self.catalog,
            image_encoder_id=self.image_encoder_id,
            index=index,
        )

    def _note(self, text: str) -> None:
        self.notes.append(text)
        log.info("%s", text)

    @property
    def image_encoder(self) -> Any:
        with self._encoder_lock:  # loaded on the analysis' worker thread
            if self._image_encoder is None:
                self._image_encoder = build_image_encoder(self.settings)
            return self._image_encoder

    @property
    def image_encoder_id(self) -> str:
        return image_encoder_id(self.settings, self._image_encoder)  # loads no weights

    @property
    def explainer(self) -> Any:
        if self._explainer is None:
            self._explainer = _build_explainer(self.settings)
        return self._explainer

    def warm_up(self) -> None:
        """Load what a typed request needs (the text model), ahead of the first one: the
        first turn (the video alone) does not, and a reopen has not loaded it."""
        load = getattr(self.text_encoder, "load", None)
        if load is not None:
            try:
                load()
            except MuseChatError as exc:  # the typed request will say it again, in the chat
                log.warning("text model not loaded ahead: %s", exc)

    def close(self) -> None:
        self.catalog.close()
        self.store.close()
        close = getattr(self._explainer, "close", None)
        if close:
            close()
        if self._request_llm not in (None, _UNSET):
            self._request_llm.close()

    def __enter__(self) -> ChatEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ sessions
    def start(self, video: Path | VideoAnalysis | VideoFeatures) -> Session:
        """A new session for `video` (a file is analysed: decode + frame encoder)."""
        if isinstance(video, VideoFeatures):
            features = video
        else:
            analysis = (
                video
                if isinstance(video, VideoAnalysis)
                else analyse_cached(
                    Path(video).absolute(),
                    self.settings,
                    lambda: self.image_encoder,
                    self.image_encoder_id,
                )
            )
            features = VideoFeatures.from_analysis(analysis)
        return self.store.create(features, str(self.catalog.directory), self.scorer.name)

    def resume(self, session_id: str) -> Session:
        """A saved session ("last": the latest one)."""
        session = self.store.load(session_id)
        if session.catalog != str(self.catalog.directory):
            self.notes.append(
                f"session {session_id} was started on catalog {session.catalog}; "
                f"continuing on {self.catalog.directory}"
            )
        return session

    def feedback(self, session: Session, track_id: int, kind: FeedbackKind) -> None:
        """Record a verdict: "accepted" (becomes the anchor), "rejected" (never shown again
        unless restored), "restored"."""
        with self._lock:
            self.store.add_feedback(session, track_id, kind)
            if kind != "shown":
                session.record(track_id, kind, session.last.turn if session.last else 0)

    # ------------------------------------------------------------------ turns
    def recommend(self, session: Session, text: str | None = None) -> Turn:
        """One turn: the video alone first; afterwards the video, the anchor track and
        `text`. Never empty while the catalog holds a track that was not rejected."""
        with self._lock:
            return self._recommend(session, text)

    def _recommend(self, session: Session, text: str | None) -> Turn:
        pool = self.pool
        k = self.settings.top_k
        number = len(session.turns) + 1
        prev = session.last
        notes: list[str] = []
        req = self._read_request(text) if text and text.strip() else None
        if req is None and prev is not None:
            req = Request(text=text or "")

        named_anchor = self._apply_references(session, req, prev, notes) if req else None
        anchor_id, weight = self._anchor(session, prev, named_anchor, req)
        anchor_row = pool.row(anchor_id) if anchor_id is not None else None
        facts = self._turn_facts(session, prev, anchor_row)
        before = session.preferences if req is not None else Preferences()
        prefs = update_preferences(before, req, facts) if req is not None else Preferences()
        plan = make_plan(prefs, req, facts, pool, before)

        excluded = set(session.rejected)
        if anchor_id is not None:
            excluded.add(anchor_id)  # the user has it already
        base = np.flatnonzero(~np.isin(pool.ids, np.fromiter(excluded, np.int64, len(excluded))))
        if len(base) == 0 and anchor_row is not None and anchor_id not in session.rejected:
            base = np.array([anchor_row])
        request_vector = None
        if req is not None and req.query_text:
            with one_torch_thread():
                request_vector = self.text_encoder.encode([req.query_text])[0]
        like_rows = [pool.artist_rows(a) for a in like_artists(plan)]
        ctx = ScoringContext(
            video=session.video,
            turn=number,
            request=req,
            request_vector=request_vector,
            anchor_row=anchor_row,
            anchor_weight=weight,
            like_rows=np.concatenate(like_rows) if like_rows else None,
        )
        with one_torch_thread():  # the video query, the learned model: small work too
            recs = self._select(ctx, plan, prefs, base, session.shown, k, notes)
        if not recs:
            notes.append(
                "every track in the catalog has been rejected; say “bring back the rejected "
                "ones” to see them again"
            )
        if req is not None and not req.understood and not req.query_text and text:
            notes.append("I did not catch a request there; here is more like the last pick")
        turn = Turn(
            turn=number,
            user=text if text and text.strip() else None,
            recommendations=recs,
            understood=req.understood if req else [],
            anchor_id=anchor_id,
            notes=notes,
        )
        session.preferences = prefs
        session.turns.append(turn)
        session.shown.update(r.id for r in recs)
        session.scorer = self.scorer.name
        self.store.save_turn(session, turn)
        self._plans[(session.id, number)] = plan
        return turn

    def _apply_references(
        self, session: Session, req: Request, prev: Turn | None, notes: list[str]
    ) -> int | None:
        """Feedback carried by the words ("not #2", "bring back #2", "#3 is perfect");
        returns the track the user named as the anchor, if any."""
        listed = [r.id for r in prev.recommendations] if prev else []
        if req.restore_all:
            for tid in sorted(session.rejected):
                self.feedback(session, tid, "restored")
        anchor: int | None = None
        for ref in req.references:
            tid = ref.track_id
            if ref.rank is not None:
                idx = len(listed) - 1 if ref.rank == -1 else ref.rank - 1
                if not 0 <= idx < len(listed):
                    notes.append(
                        f"there is no #{ref.rank} in the last list"
                        + (f" (it had {len(listed)})" if listed else "")
                    )
                    continue
                tid = listed[idx]
            if tid is None:
                continue
            if ref.action == "reject":
                self.feedback(session, tid, "rejected")
            elif ref.action == "restore":
                self.feedback(session, tid, "restored")
            elif ref.action == "accept":
                self.feedback(session, tid, "accepted")
                anchor = tid
            else:
                anchor = tid
        return anchor

    def _anchor(
        self, session: Session, prev: Turn | None, named: int | None, req: Request | None
    ) -> tuple[int | None, float]:
        if prev is None or req is None:
            return None, 0.0
        away = req.different
        if named is not None and named not in session.rejected:
            return named, ANCHOR_AWAY if away else ANCHOR_NAMED
        # A track accepted while the last list was on screen; else that list's best pick
        # that was not rejected.
        accepted = [t for t, turn in session.accepted_in.items() if turn == prev.turn]
        candidates = accepted[-1:] + [r.id for r in prev.recommendations]
        for tid in candidates:
            if tid not in session.rejected and self.pool.row(tid) is not None:
                return tid, ANCHOR_AWAY if away else ANCHOR_IMPLIED
        return None, 0.0

    def _turn_facts(self, session: Session, prev: Turn | None, anchor_row: int | None) -> TurnFacts:
        pool = self.pool
        facts = TurnFacts(video_duration=session.video.duration)
        if anchor_row is not None:
            bpm, energy = pool.bpm[anchor_row], pool.energy[anchor_row]
            facts.anchor_bpm = None if np.isnan(bpm) else float(bpm)
            facts.anchor_energy = None if np.isnan(energy) else float(energy)
            facts.anchor_duration = float(pool.duration[anchor_row])
            facts.anchor_artist = pool.artists[anchor_row]
        listed = pool.rows([r.id for r in prev.recommendations]) if prev else np.array([], int)
        ref = pool.bpm[listed] if len(listed) else pool.bpm
        if len(finite := ref[np.isfinite(ref)]):
            # statistics, not np.nanmedian: numpy's median loads numpy.ma (~25 ms of a reopen)
            facts.fallback_bpm = float(statistics.median(finite.tolist()))
        return facts

    def _select(
        self,
        ctx: ScoringContext,
        plan: Plan,
        prefs: Preferences,
        base: np.ndarray,
        shown: set[int],
        k: int,
        notes: list[str],
    ) -> list[Recommendation]:
        pool = self.pool
        if len(base) == 0:
            return []
        found = relax(plan.filters, base, len(pool))
        rows = found.rows
        scores = self.scorer.score(ctx, pool, rows)
        adj = adjustments(plan, pool, rows, shown, found.dropped)
        total = scores.total + sum(adj.values(), np.zeros(len(rows), np.float32))
        # Best first; ties by id so the same state always gives the same list.
        order = np.lexsort((pool.ids[rows], -total))
        order = order[np.isfinite(total[order])]
        if ctx.request is None:  # the first slate: picks that differ in style
            audio = pool.audio[rows]
            order = diverse_slate(order, total, audio, k, self.settings.first_slate_diversity)
        order = order[:k]
        picked = []
        for i in order:
            parts = {n: float(v[i]) for n, v in {**scores.parts, **adj}.items()}
            picked.append(self._recommendation(int(rows[i]), float(total[i]), plan, found, parts))
        kept = [f.label for f in plan.filters if f not in found.dropped]
        for f in found.dropped:
            if not f.new:
                forget(prefs, f)
        if found.dropped:
            earlier = [f.label for f in found.dropped if not f.new]
            now = [f.label for f in found.dropped if f.new]
            with_ = f" together with {', '.join(kept)}" if kept else ""
            if earlier:
                notes.append(
                    f"no track fits the earlier request {_quote(earlier)}{with_}; I dropped it"
                )
            if now:
                notes.append(f"no track fits {_quote(now)}{with_}; I relaxed it")
        if 0 < len(picked) < k and plan.filters:
            notes.append(
                f"only {len(picked)} track{'s' if len(picked) != 1 else ''} "
                f"fit{'s' if len(picked) == 1 else ''} {_quote(kept)}"
                if kept
                else f"only {len(picked)} tracks are left"
            )
        return picked

    def _recommendation(
        self,
        row: int,
        score: float,
        plan: Plan,
        found: Any,
        parts: dict[str, float],
    ) -> Recommendation:
        pool = self.pool
        bpm = pool.bpm[row]
        return Recommendation(
            id=int(pool.ids[row]),
            path=pool.paths[row],
            title=pool.titles[row],
            artist=pool.artists[row],
            score=round(score, 4),
            tags=pool.shown_tags(row),
            bpm=None if np.isnan(bpm) else round(float(bpm), 1),
            duration=round(float(pool.duration[row]), 1),
            relaxed=[f.label for f in plan.filters if not f.passing[row]],
            parts={n: round(v, 3) for n, v in parts.items()},
        )

    # ------------------------------------------------------------------ explanations
    def explain(self, session: Session, turn: Turn) -> Iterator[Any]:
        """The explanation of the turn's top pick as explainer events (Token, Replace,
        Done); the final text is stored on the turn and in the session."""
        # imported here: a run without explanations (--no-explain) never loads them
        from musechat_tui.engine.explaining import explain_events
        from musechat_tui.explain.base import Done

        if not turn.recommendations:
            return iter(())
        facts, others = self.explanation_facts(session, turn)
        explainer = self.explainer
        if hasattr(explainer, "events"):  # GuardedExplainer: timeouts, fallback, grounding
            events = explainer.events(facts, others)
        else:  # a bare Explainer
            events = explain_events(explainer, facts)

        def run() -> Iterator[Any]:
            for event in events:
                if isinstance(event, Done):
                    turn.explanation = event.text
                    turn.explainer = event.source
                    if event.note:  # for logs and --json; the chat shows the text only
                        log.info("explanation: %s", event.note)
                        turn.notes.append(event.note)
                    self.store.save_explanation(session, turn)
                yield event

        return run()

    def explanation_facts(
        self, session: Session, turn: Turn
    ) -> tuple[ExplanationFacts, list[TrackFacts]]:
        """What the explanation of the turn's top pick may say, and the tracks it must not
        name (the rest of the list)."""
        from musechat_tui.engine.explaining import facts_for

        plan = self._plans.get((session.id, turn.turn))
        top = turn.recommendations[0]
        row = self.pool.row(top.id)
        matched = (
            matched_terms(plan, self.pool, row, top.relaxed) if plan and row is not None else []
        )
        scene = self._zero_shot.scene_words(session.video, self.pool).top()
        facts = facts_for(self.catalog, self.pool, session, turn, matched, scene)
        return facts, [_facts_of(r) for r in turn.recommendations[1:]]

    def explain_text(self, session: Session, turn: Turn) -> str:
        for _ in self.explain(session, turn):
            pass
        return turn.explanation or ""

    def run_turn(self, session: Session, text: str | None = None, explain: bool = True) -> Turn:
        """recommend + explain, for scripts."""
        turn = self.recommend(session, text)
        if explain:
            self.explain_text(session, turn)
        return turn


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """One sentence or one fused vector is faster on one thread than on two (no fork/join),
    and does not stall when the other core is busy: 17 ms instead of 120 ms for MiniLM on
    the 2-core machine under load. torch's setting is process-wide, so it is restored.
    Nothing to do where torch is not loaded (the ONNX encoders choose their own threads)."""
    torch = sys.modules.get("torch")
    if torch is None:
        yield
        return

    before = torch.get_num_threads()
    if before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _quote(labels: list[str]) -> str:
    return ", ".join(f"“{label}”" for label in labels)


def _facts_of(r: Recommendation) -> TrackFacts:
    from musechat_tui.explain.facts import TrackFacts

    return TrackFacts(r.title, r.artist, None, None, r.duration, r.bpm, None, tuple(r.tags))


def _build_explainer(settings: Settings) -> Any:
    from musechat_tui.explain.guard import build_guarded_explainer

    return build_guarded_explainer(settings)
