"""The explainer interface and the events a UI consumes.

An `Explainer` turns `ExplanationFacts` into text, piece by piece. The UI does not talk to
one directly: `GuardedExplainer` (guard.py) wraps it with timeouts, a template fallback and
the grounding check, and emits `Token`, `Replace` and `Done` events. Because tokens are shown
as they arrive, a later `Replace` tells the UI to drop what it displayed for this
explanation and show the new text instead.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass

from musechat_tui.errors import MuseChatError
from musechat_tui.explain.facts import ExplanationFacts


class ExplainerError(MuseChatError):
    """An LLM explainer failed (model missing, endpoint down, bad output)."""


class Explainer(ABC):
    """Writes one explanation from facts. Implementations must be safe to call from a worker
    thread (the guard streams them in one) and should stop promptly when their generator is
    closed early."""

    @property
    @abstractmethod
    def id(self) -> str:
        """Names the backend and model, e.g. 'template' or 'llama:SmolLM2-...gguf'."""

    @abstractmethod
    def stream(self, facts: ExplanationFacts) -> Iterator[str]:
        """Yields the explanation in pieces (tokens or words), in order."""

    # An explainer that rephrases the planned text (explain/prompt.py) writes everything
    # after the plan's first sentence, which names the pick: the guard shows that sentence
    # at once and the model's words after it.
    rewrites_plan: bool = False

    def explain(self, facts: ExplanationFacts) -> str:
        return "".join(self.stream(facts))

    def close(self) -> None:  # noqa: B027 - optional hook, most explainers hold nothing
        """Frees the model or connection; the explainer may reload lazily afterwards."""


@dataclass(frozen=True)
class Token:
    """Append `text` to the explanation being shown."""

    text: str


@dataclass(frozen=True)
class Replace:
    """Discard everything shown for this explanation and show `text` instead."""

    text: str
    reason: str


@dataclass(frozen=True)
class Done:
    """The explanation is complete; `text` is exactly what should now be on screen.

    source: the explainer id that produced `text` ('template' after a fallback).
    note: a short user-facing remark when the template replaced the LLM, else None.
    issues: grounding violations found in the LLM text (empty when it passed).
    first_token_s: seconds from the request to the first LLM piece (None if none came).
    elapsed_s: seconds from the request to the end of the LLM stream (or the fallback).
    n_pieces: LLM pieces (about tokens) received."""

    text: str
    source: str
    note: str | None = None
    issues: tuple[str, ...] = ()
    first_token_s: float | None = None
    elapsed_s: float = 0.0
    n_pieces: int = 0

    @property
    def fell_back(self) -> bool:
        return self.note is not None


Event = Token | Replace | Done
