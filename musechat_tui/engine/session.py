"""Chat sessions and their storage: `sessions.sqlite` in the data dir.

A session holds the video's features, every turn (the user's words, what the rules read,
the recommendations, the explanation) and the user's feedback on tracks (shown,
accepted, rejected, restored), so a chat can be listed, resumed, and later turned into
training data (video features + anchor + words -> accepted/rejected tracks).

Schema as numbered steps (sqlite_db.migrate), like the catalog's. Every change is written
at once, one transaction per turn.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from musechat_tui.engine.constraints import Preferences
from musechat_tui.engine.video import VideoFeatures
from musechat_tui.errors import MuseChatError
from musechat_tui.sqlite_db import Step, atomic, configure, enable_wal, migrate
from musechat_tui.sqltext import TEXT_PARAM, read_text, sql_text

if TYPE_CHECKING:
    from sqlite_utils import Database

    from musechat_tui.config import Settings

SESSIONS_FILE = "sessions.sqlite"
FeedbackKind = Literal["shown", "accepted", "rejected", "restored"]

STEP_SET = "musechat_sessions"


def m001_initial(db: Database) -> None:
    db.execute(
        """
        CREATE TABLE sessions (
            id TEXT PRIMARY KEY,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            video_path TEXT NOT NULL,
            video_json TEXT NOT NULL,
            video_embeddings BLOB NOT NULL,
            video_dim INTEGER NOT NULL,
            catalog TEXT NOT NULL,
            scorer TEXT NOT NULL,
            preferences TEXT
        )
        """
    )
    db.execute(
        """
        CREATE TABLE turns (
            session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
            turn INTEGER NOT NULL,
            user TEXT,
            understood TEXT NOT NULL,
            anchor_id INTEGER,
            notes TEXT NOT NULL,
            explanation TEXT,
            explainer TEXT,
            created_at TEXT NOT NULL,
            PRIMARY KEY (session_id, turn)
        )
        """
    )
    db.execute(
        """
        CREATE TABLE recommendations (
            session_id TEXT NOT NULL,
            turn INTEGER NOT NULL,
            rank INTEGER NOT NULL,
            track_id INTEGER NOT NULL,
            score REAL NOT NULL,
            item TEXT NOT NULL,
            PRIMARY KEY (session_id, turn, rank),
            FOREIGN KEY (session_id, turn) REFERENCES turns(session_id, turn) ON DELETE CASCADE
        )
        """
    )
    db.execute(
        """
        CREATE TABLE feedback (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
            turn INTEGER NOT NULL,
            track_id INTEGER NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('shown', 'accepted', 'rejected', 'restored')),
            at TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX idx_feedback_session ON feedback(session_id, track_id)")


# The schema's history, oldest first: a change is a new step at the end, never an edit.
STEPS: tuple[Step, ...] = (m001_initial,)


class SessionError(MuseChatError):
    """A session cannot be found or used."""


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class Recommendation:
    id: int
    path: str
    title: str
    artist: str | None
    score: float
    tags: list[str]
    bpm: float | None
    duration: float
    relaxed: list[str] = field(default_factory=list)  # filters this track does not meet
    parts: dict[str, float] = field(default_factory=dict)  # score components (z units)

    def to_dict(self, parts: bool = False) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if parts or k != "parts"}
        d["tags"], d["relaxed"] = list(self.tags), list(self.relaxed)
        return d


@dataclass
class Turn:
    turn: int
    user: str | None
    recommendations: list[Recommendation]
    understood: list[str] = field(default_factory=list)
    anchor_id: int | None = None
    notes: list[str] = field(default_factory=list)
    explanation: str | None = None
    explainer: str | None = None
    created_at: str = field(default_factory=utc_now)

    def to_dict(self) -> dict[str, Any]:
        return {
            "turn": self.turn,
            "user": self.user,
            "understood": self.understood,
            "anchor": self.anchor_id,
            "notes": self.notes,
            "recommendations": [r.to_dict() for r in self.recommendations],
            "explanation": self.explanation,
        }


@dataclass
class Session:
    id: str
    video: VideoFeatures
    catalog: str
    scorer: str
    turns: list[Turn] = field(default_factory=list)
    preferences: Preferences = field(default_factory=Preferences)
    # track id -> latest feedback kind other than "shown"
    verdicts: dict[int, FeedbackKind] = field(default_factory=dict)
    shown: set[int] = field(default_factory=set)
    # track id -> the turn it was accepted in (the latest acceptance last)
    accepted_in: dict[int, int] = field(default_factory=dict)
    created_at: str = field(default_factory=utc_now)

    def record(self, track_id: int, kind: FeedbackKind, turn: int) -> None:
        """Apply a verdict in memory (the store keeps the history)."""
        self.verdicts.pop(track_id, None)
        self.accepted_in.pop(track_id, None)
        if kind == "accepted":
            self.accepted_in[track_id] = turn
        if kind in ("accepted", "rejected"):
            self.verdicts[track_id] = kind

    @property
    def rejected(self) -> set[int]:
        return {t for t, k in self.verdicts.items() if k == "rejected"}

    @property
    def accepted(self) -> list[int]:
        return [t for t, k in self.verdicts.items() if k == "accepted"]

    @property
    def last(self) -> Turn | None:
        return self.turns[-1] if self.turns else None

    def export_pick(self, selected: int | None = None) -> int | None:
        """The track an export uses: the latest accepted one, else `selected` (the app's
        highlighted row), else the last turn's top pick."""
        if self.accepted:
            return self.accepted[-1]  # verdicts keep the latest one last
        if selected is not None:
            return selected
        last = self.last
        return last.recommendations[0].id if last and last.recommendations else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "session": self.id,
            "video": self.video.path,
            "catalog": self.catalog,
            "scorer": self.scorer,
            "turns": [t.to_dict() for t in self.turns],
        }


class SessionStore:
    """The sessions database in `data_dir`. One connection; not shared across threads
    without the caller's own lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(str(path), timeout=10, check_same_thread=False)
            conn.text_factory = read_text  # video paths may be any bytes
            self.conn = conn
            configure(conn)
            enable_wal(conn)
            # WAL + NORMAL: a crash of the app loses nothing; a power cut at worst the last
            # turn. Saves an fsync per turn (the turn latency budget is 150 ms).
            conn.execute("PRAGMA synchronous = NORMAL")
            migrate(conn, STEP_SET, STEPS)
        except sqlite3.DatabaseError as exc:
            raise SessionError(f"{path}: not a usable sessions database ({exc})") from None

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> SessionStore:
        return cls(Path(data_dir) / SESSIONS_FILE)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> SessionStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with atomic(self.conn) as conn:
            yield conn

    # ------------------------------------------------------------------ writes
    def create(self, video: VideoFeatures, catalog: str, scorer: str) -> Session:
        # Absolute paths: a session resumed from another folder still finds its video.
        video.path = os.path.abspath(video.path)
        catalog = os.path.abspath(catalog)
        session = Session(secrets.token_hex(4), video, catalog, scorer)
        emb = np.ascontiguousarray(video.embeddings, dtype="<f4")
        with self._tx() as c:
            c.execute(
                "INSERT INTO sessions (id, created_at, updated_at, video_path, video_json, "
                "video_embeddings, video_dim, catalog, scorer, preferences) "
                f"VALUES (?,?,?,{TEXT_PARAM},?,?,?,{TEXT_PARAM},?,?)",
                [
                    session.id,
                    session.created_at,
                    session.created_at,
                    sql_text(video.path),
                    video.to_json(),
                    emb.tobytes(),
                    int(emb.shape[1]) if emb.ndim == 2 else 0,
                    sql_text(catalog),
                    scorer,
                    session.preferences.to_json(),
                ],
            )
        return session

    def save_turn(self, session: Session, turn: Turn) -> None:
        """The turn, its recommendations, 'shown' feedback and the preferences, at once."""
        now = utc_now()
        with self._tx() as c:
            c.execute(
                "INSERT OR REPLACE INTO turns (session_id, turn, user, understood, anchor_id, "
                "notes, explanation, explainer, created_at) VALUES (?,?,?,?,?,?,?,?,?)",
                [
                    session.id,
                    turn.turn,
                    turn.user,
                    json.dumps(turn.understood),
                    turn.anchor_id,
                    json.dumps(turn.notes),
                    turn.explanation,
                    turn.explainer,
                    turn.created_at,
                ],
            )
            c.execute(
                "DELETE FROM recommendations WHERE session_id = ? AND turn = ?",
                [session.id, turn.turn],
            )
            c.executemany(
                "INSERT INTO recommendations (session_id, turn, rank, track_id, score, item) "
                "VALUES (?,?,?,?,?,?)",
                [
                    (session.id, turn.turn, i + 1, r.id, r.score, json.dumps(r.to_dict(True)))
                    for i, r in enumerate(turn.recommendations)
                ],
            )
            c.executemany(
                "INSERT INTO feedback (session_id, turn, track_id, kind, at) "
                "VALUES (?,?,?,'shown',?)",
                [(session.id, turn.turn, r.id, now) for r in turn.recommendations],
            )
            c.execute(
                "UPDATE sessions SET updated_at = ?, preferences = ?, scorer = ? WHERE id = ?",
                [now, session.preferences.to_json(), session.scorer, session.id],
            )

    def save_explanation(self, session: Session, turn: Turn) -> None:
        with self._tx() as c:
            c.execute(
                "UPDATE turns SET explanation = ?, explainer = ?, notes = ? "
                "WHERE session_id = ? AND turn = ?",
                [turn.explanation, turn.explainer, json.dumps(turn.notes), session.id, turn.turn],
            )

    def add_feedback(self, session: Session, track_id: int, kind: FeedbackKind) -> None:
        turn = session.last.turn if session.last else 0
        with self._tx() as c:
            c.execute(
                "INSERT INTO feedback (session_id, turn, track_id, kind, at) VALUES (?,?,?,?,?)",
                [session.id, turn, track_id, kind, utc_now()],
            )
            c.execute("UPDATE sessions SET updated_at = ? WHERE id = ?", [utc_now(), session.id])

    def delete(self, session_id: str) -> None:
        with self._tx() as c:
            c.execute("DELETE FROM feedback WHERE session_id = ?", [session_id])
            c.execute("DELETE FROM recommendations WHERE session_id = ?", [session_id])
            c.execute("DELETE FROM turns WHERE session_id = ?", [session_id])
            c.execute("DELETE FROM sessions WHERE id = ?", [session_id])

    # ------------------------------------------------------------------ reads
    def list(self, limit: int = 50) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "SELECT s.id, s.created_at, s.updated_at, s.video_path, s.catalog, s.scorer, "
            "(SELECT COUNT(*) FROM turns t WHERE t.session_id = s.id), "
            "(SELECT user FROM turns t WHERE t.session_id = s.id AND user IS NOT NULL "
            " ORDER BY turn DESC LIMIT 1) "
            "FROM sessions s ORDER BY s.updated_at DESC, s.rowid DESC LIMIT ?",
            [limit],
        ).fetchall()
        keys = ("id", "created_at", "updated_at", "video", "catalog", "scorer", "turns", "last_ask")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def resolve(self, session_id: str) -> str:
        """`session_id`, or the latest session's id for "last"."""
        if session_id != "last":
            return session_id
        listed = self.list(limit=1)
        if not listed:
            raise SessionError(f"there is no saved session to resume in {self.path}")
        return str(listed[0]["id"])

    def catalog_of(self, session_id: str) -> str | None:
        """The catalog folder the session was started on (None: no such session)."""
        row = self.conn.execute(
            "SELECT catalog FROM sessions WHERE id = ?", [self.resolve(session_id)]
        ).fetchone()
        return row[0] if row else None

    def load(self, session_id: str) -> Session:
        session_id = self.resolve(session_id)
        row = self.conn.execute(
            "SELECT id, created_at, video_json, video_embeddings, video_dim, catalog, scorer, "
            "preferences FROM sessions WHERE id = ?",
            [session_id],
        ).fetchone()
        if row is None:
            raise SessionError(
                f"no session {session_id!r} in {self.path} (see `musechat-tui --list-sessions`)"
            )
        sid, created, vjson, vemb, vdim, catalog, scorer, prefs = row
        emb = np.frombuffer(vemb, dtype="<f4").astype(np.float32)
        emb = emb.reshape(-1, vdim) if vdim else emb.reshape(0, 0)
        session = Session(
            id=sid,
            video=VideoFeatures.from_json(vjson, emb),
            catalog=catalog,
            scorer=scorer,
            preferences=Preferences.from_json(prefs),
            created_at=created,
        )
        recs: dict[int, list[Recommendation]] = {}
        for turn, item in self.conn.execute(
            "SELECT turn, item FROM recommendations WHERE session_id = ? ORDER BY turn, rank",
            [sid],
        ):
            recs.setdefault(turn, []).append(Recommendation(**json.loads(item)))
        for turn, user, understood, anchor, notes, expl, explainer, at in self.conn.execute(
            "SELECT turn, user, understood, anchor_id, notes, explanation, explainer, created_at "
            "FROM turns WHERE session_id = ? ORDER BY turn",
            [sid],
        ):
            session.turns.append(
                Turn(
                    turn=turn,
                    user=user,
                    recommendations=recs.get(turn, []),
                    understood=json.loads(understood),
                    anchor_id=anchor,
                    notes=json.loads(notes),
                    explanation=expl,
                    explainer=explainer,
                    created_at=at,
                )
            )
        for track_id, kind, turn in self.conn.execute(
            "SELECT track_id, kind, turn FROM feedback WHERE session_id = ? ORDER BY id", [sid]
        ):
            if kind == "shown":
                session.shown.add(track_id)
            else:
                session.record(track_id, kind, turn)
        return session

    def feedback_rows(self, session_id: str | None = None) -> list[dict[str, Any]]:
        """Raw feedback (for building training data later)."""
        where, params = ("WHERE session_id = ?", [session_id]) if session_id else ("", [])
        cur = self.conn.execute(
            f"SELECT session_id, turn, track_id, kind, at FROM feedback {where} ORDER BY id",
            params,
        )
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r, strict=True)) for r in cur]


def resume_settings(settings: Settings, session_id: str) -> Settings:
    """The settings to resume `session_id` ("last": the latest session) with: the catalog
    the session was started on, while that folder still exists (an explicit --catalog is
    passed by not calling this)."""
    with SessionStore.in_data_dir(settings.data_dir) as store:
        catalog = store.catalog_of(session_id)
    if catalog and Path(catalog).is_dir():
        return settings.model_copy(update={"catalog_dir": Path(catalog)})
    return settings
