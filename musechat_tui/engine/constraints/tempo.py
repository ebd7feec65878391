"""Tempo: "faster", "a bit slower", "same tempo", "around 120 bpm", "under 100 bpm",
"half the speed". Relative requests hold for their turn, measured against the anchor;
an absolute range stays until replaced. "fast"/"calm" and other tempo-laden concepts
lean the tempo without a filter.
"""

from __future__ import annotations

import re
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
    outside,
    range_filter,
    range_text,
)
from musechat_tui.engine.constraints.words import AROUND, MAX_WORDS, MIN_WORDS, cut
from musechat_tui.engine.scoring import zscore
from musechat_tui.engine.vocabulary import FAST_BPM, SLOW_BPM, TEMPO_CONCEPTS
from musechat_tui.lazy_regex import lazy_pattern

if TYPE_CHECKING:
    from musechat_tui.engine.pool import TrackPool
    from musechat_tui.engine.requests import Request

W_TEMPO = 0.8
AROUND_SPAN = 0.08  # "around 120 bpm": 110-130


@dataclass(frozen=True)
class TempoRequest(Part):
    kind = "tempo"

    direction: Literal["faster", "slower", "same", "range", "factor"]
    low: float | None = None  # bpm, for "range"
    high: float | None = None
    amount: float = 1.0  # "a bit faster" 0.5, "much faster" 2; "factor": the multiple

    def label(self) -> str:
        if self.direction == "factor":
            return f"{self.amount:g}x tempo"
        if self.direction != "range":
            return self.direction
        return range_text(self.low, self.high, "bpm")


_BPM = r"(\d{2,3}(?:\.\d+)?)\s*(?:bpm|beats per minute|beats a minute)\b"
_LITTLE = r"(a (?:little |tiny )?bit |slightly |a little |a tad |somewhat |kinda |a touch )"
_MUCH = r"(much |way |a lot |far |even |lots |considerably |loads )"
_RULES: list[tuple[re.Pattern[str], str]] = [
    (lazy_pattern(rf"\bbetween\s+(\d{{2,3}})\s+and\s+{_BPM}"), "between"),
    (lazy_pattern(rf"\b(\d{{2,3}})\s*(?:-|–|to)\s*{_BPM}"), "between"),
    (lazy_pattern(rf"\b{MAX_WORDS}\s+(?:about\s+)?{_BPM}"), "max"),
    (lazy_pattern(rf"\b{MIN_WORDS}\s+(?:about\s+)?{_BPM}"), "min"),
    (lazy_pattern(rf"(?:\b{AROUND}\s*)?{_BPM}"), "around"),
    (lazy_pattern(r"\b(?:same|similar) (?:tempo|speed|pace|bpm)\b"), "same"),
    (
        lazy_pattern(
            r"\b(?:(?:go |at |to )?half (?:the |that )?(?:speed|tempo|pace|bpm)|half[- ]time|"
            r"halve (?:the |that )?(?:speed|tempo|pace|bpm))\b"
        ),
        "half",
    ),
    (
        lazy_pattern(
            r"\b(?:double (?:the |that )?(?:speed|tempo|pace|bpm)|double[- ]time|"
            r"twice (?:as fast|the (?:speed|tempo|pace)))\b"
        ),
        "double",
    ),
    (
        lazy_pattern(
            rf"\b(?:{_LITTLE}|{_MUCH})?(?:faster|quicker|speedier|higher tempo|more tempo|"
            r"more pace|less slow)\b"
            r"|\b(?:speed (?:it|this|things) up|pick (?:up )?the (?:pace|tempo)|"
            r"pick (?:it|things) up|up the (?:tempo|pace)|too slow|not fast enough|"
            r"tempo up|raise the tempo)\b"
        ),
        "faster",
    ),
    (
        lazy_pattern(
            rf"\b(?:{_LITTLE}|{_MUCH})?(?:slower|lower tempo|less tempo)\b"
            r"|\b(?:slow (?:it|this|things) down|too fast|not so fast|less fast|not too fast|"
            r"bring the (?:tempo|pace) down|lower the (?:tempo|pace)|take it down a notch|"
            r"tempo down|ease (?:off|up) on the (?:tempo|pace))\b"
        ),
        "slower",
    ),
]


@dataclass
class TempoPlan:
    ref: float | None = None  # bpm a relative request is measured from
    direction: int = 0  # +1 faster, -1 slower (relative request or "fast"/"slow")
    amount: float = 1.0
    range: tuple[float | None, float | None] | None = None


class TempoState(State):
    range: tuple[float | None, float | None] | None = None  # absolute bpm range


class Tempo(ConstraintKind):
    name = "tempo"
    relax_rank = 2
    state_type = TempoState

    def read(self, text: str, req: Request) -> str:
        for rx, kind in _RULES:
            m = rx.search(text)
            if not m:
                continue
            if kind == "between":
                a, b = sorted((float(m.group(1)), float(m.group(2))))
                part = TempoRequest("range", a, b)
            elif kind == "max":
                part = TempoRequest("range", None, float(m.group(1)))
            elif kind == "min":
                part = TempoRequest("range", float(m.group(1)), None)
            elif kind == "around":
                bpm = float(m.group(1))
                part = TempoRequest("range", bpm * (1 - AROUND_SPAN), bpm * (1 + AROUND_SPAN))
            elif kind in ("same", "half", "double"):
                factor = {"same": 1.0, "half": 0.5, "double": 2.0}[kind]
                part = (
                    TempoRequest("same")
                    if kind == "same"
                    else TempoRequest("factor", amount=factor)
                )
            else:
                amount = 0.5 if m.group(1) else 2.0 if m.group(2) else 1.0
                part = TempoRequest(kind, amount=amount)  # type: ignore[arg-type]
            req.add(part)
            # the same words again ("too fast, way too fast") are read, not left as concepts
            return cut(text, [x.span() for x in rx.finditer(text)])
        return text

    def remember(self, state: State, req: Request, facts: TurnFacts) -> State:
        t = req.part(TempoRequest)
        if t is None:
            return state
        return TempoState(range=(t.low, t.high) if t.direction == "range" else None)

    def plan(self, plan: Plan, prefs: Any, old: Any, facts: TurnFacts, pool: TrackPool) -> None:
        s = prefs.state(self)
        t = plan.request.part(TempoRequest) if plan.request is not None else None
        p = TempoPlan(range=s.range)
        plan.soft[self.name] = p
        ref = facts.anchor_bpm if facts.anchor_bpm is not None else facts.fallback_bpm
        if t is not None and t.direction != "range":
            p.ref = ref
            if ref is None:
                pass
            elif t.direction in ("faster", "slower"):
                p.direction = 1 if t.direction == "faster" else -1
                p.amount = t.amount
                gain = 0.02 if t.amount < 1 else 0.05 if t.amount == 1 else 0.15
                p.range = (ref * (1 + gain), None) if p.direction > 0 else (None, ref * (1 - gain))
                label = f"{t.direction} than {ref:.0f} bpm"
                plan.filters.append(range_filter(label, self, pool.bpm, p.range))
            else:  # the same tempo, or a multiple of it
                target = ref * (t.amount if t.direction == "factor" else 1.0)
                p.range = (target * (1 - AROUND_SPAN), target * (1 + AROUND_SPAN))
                label = (
                    f"same tempo (~{ref:.0f} bpm)"
                    if t.direction == "same"
                    else f"{t.amount:g}x the tempo (~{target:.0f} bpm)"
                )
                plan.filters.append(range_filter(label, self, pool.bpm, p.range))
        elif s.range:
            f = range_filter(range_text(*s.range, "bpm"), self, pool.bpm, s.range)
            f.new, f.key = s.range != old.state(self).range, "range"
            plan.filters.append(f)
        if p.direction == 0:
            # "fast", "calm" etc. lean the tempo without a filter.
            concepts = plan.soft.get("concept")
            wants = concepts.wants if concepts else {}
            less = concepts.less if concepts else {}
            lean = sum(TEMPO_CONCEPTS.get(c, 0) * w for c, w in wants.items())
            lean -= sum(TEMPO_CONCEPTS.get(c, 0) * w for c, w in less.items())
            p.direction = int(np.sign(lean))
            p.amount = min(abs(lean), 1.0)

    def adjust(
        self, plan: Plan, pool: TrackPool, rows: np.ndarray, relaxed: list[Filter]
    ) -> dict[str, np.ndarray]:
        p: TempoPlan = plan.soft[self.name]
        bpm = pool.bpm[rows]
        out: dict[str, np.ndarray] = {}
        if p.direction and p.ref:
            rel = np.clip(p.direction * (np.nan_to_num(bpm, nan=p.ref) / p.ref - 1), -0.3, 0.3)
            out["tempo"] = W_TEMPO * p.amount * rel / 0.3
        elif p.direction:
            mid = FAST_BPM if p.direction > 0 else SLOW_BPM
            dist = np.abs(np.nan_to_num(bpm, nan=110.0) - mid)
            out["tempo"] = -W_TEMPO * p.amount * zscore(dist)
        if p.range:
            out["tempo range"] = -0.5 * zscore(outside(bpm, p.range))
        return out
