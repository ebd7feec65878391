"""Musical key and mode: "in a minor key", "something in D major", "brighter, major key".

The key is estimated at index time (musechat_tui/music_character.py: Krumhansl-Kessler
profiles on librosa's chroma; the catalog stores the key name and a mode score, > 0 major).
A mode is a filter on the mode score, a named key one on the key; both stay until
replaced, and give way early when nothing fits (a key estimate is the least sure of the
measured facts).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from musechat_tui.engine.constraints.base import (
    ConstraintKind,
    Filter,
    Part,
    Plan,
    State,
    TurnFacts,
)
from musechat_tui.engine.constraints.words import cut
from musechat_tui.engine.scoring import zscore
from musechat_tui.lazy_regex import lazy_pattern
from musechat_tui.music_character import key_name

if TYPE_CHECKING:
    from musechat_tui.engine.pool import TrackPool
    from musechat_tui.engine.requests import Request

W_MODE = 0.8  # the mode score leans the order where the filter had to give way
Mode = Literal["major", "minor"]


@dataclass(frozen=True)
class KeyRequest(Part):
    kind = "key"

    mode: Mode
    tonic: int | None = None  # pitch class, 0 = C; None: any key of the mode

    def label(self) -> str:
        return f"{self.mode} key" if self.tonic is None else f"key {self.name}"

    @property
    def name(self) -> str:
        return key_name(self.tonic or 0, self.mode)


_LETTER = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}
_ACCIDENTAL = r"(?:\s*(#|♯|♭|-?sharp|-?flat)|(b)(?=\s*(?:maj|min)))"
_MODE = r"(major|minor|maj|min)\b"
# "in A minor", "key of F sharp minor", "Eb major"; a bare "a minor" is an article, and
# "in a minor key" is any minor key.
_NAMED = lazy_pattern(rf"\b(?:(in|key of)\s+)?([a-g]){_ACCIDENTAL}?\s*-?\s*{_MODE}(?![- ]?keys?\b)")
_MODE_ONLY = lazy_pattern(
    rf"\b(?:{_MODE}[- ](?:keys?|mode|tonality|scale|chords?|feel)\b|"
    r"(?:in (?:a )?|something |anything |more |go |prefer (?:a )?)(major|minor)\b)"
)


def _tonic(letter: str, accidental: str | None) -> int:
    pc = _LETTER[letter]
    if accidental:
        pc += 1 if ("#" in accidental or "♯" in accidental or "sharp" in accidental) else -1
    return pc % 12


class KeyState(State):
    mode: Mode | None = None
    tonic: int | None = None


class Key(ConstraintKind):
    name = "key"
    relax_rank = 1
    state_type = KeyState

    def read(self, text: str, req: Request) -> str:
        for m in _NAMED.finditer(text):
            prefix, letter, acc1, acc2, mode = m.groups()
            if letter == "a" and not prefix and not (acc1 or acc2):
                continue  # "a minor change", "a major key"
            req.add(KeyRequest(_mode(mode), _tonic(letter, acc1 or acc2)))
            return cut(text, [m.span()])
        if m := _MODE_ONLY.search(text):
            req.add(KeyRequest(_mode(m.group(1) or m.group(2))))
            return cut(text, [m.span()])
        return text

    def remember(self, state: State, req: Request, facts: TurnFacts) -> State:
        k = req.part(KeyRequest)
        return state if k is None else KeyState(mode=k.mode, tonic=k.tonic)

    def plan(self, plan: Plan, prefs: Any, old: Any, facts: TurnFacts, pool: TrackPool) -> None:
        s, before = prefs.state(self), old.state(self)
        plan.soft[self.name] = s.mode
        if s.mode is None:
            return
        if s.tonic is None:
            sign = 1 if s.mode == "major" else -1
            passing = np.nan_to_num(pool.major * sign, nan=-1.0) > 0
            label = f"in a {s.mode} key"
        else:
            name = key_name(s.tonic, s.mode)
            passing = np.array([k == name for k in pool.keys], dtype=bool)
            label = f"in {name}"
        new = (s.mode, s.tonic) != (before.mode, before.tonic)
        plan.filters.append(Filter(label, self.name, passing, self.relax_rank, new=new, key="key"))

    def adjust(
        self, plan: Plan, pool: TrackPool, rows: np.ndarray, relaxed: list[Filter]
    ) -> dict[str, np.ndarray]:
        mode = plan.soft[self.name]
        if mode is None or not any(f.kind == self.name for f in relaxed):
            return {}
        sign = 1.0 if mode == "major" else -1.0
        return {"mode": W_MODE * sign * zscore(np.nan_to_num(pool.major[rows], nan=0.0))}


def _mode(word: str) -> Mode:
    return "major" if word.startswith("maj") else "minor"
