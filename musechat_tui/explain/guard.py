"""What the UI and the CLI use: an explainer behind timeouts, a template fallback and the
grounding check, as a stream of typed events.

    guard = build_guarded_explainer(settings)
    for event in guard.events(facts, others=other_tracks):
        match event:
            case Token(text):          show(text)                # append
            case Replace(text, why):   clear(); show(text)       # drop what was shown
            case Done() as done:       final(done.text, done.note)

Rules:
- the LLM streams in a worker thread; no first piece within `first_token_timeout_s`, or no
  end within `timeout_s`, or any error, and the template replaces it (with a note);
- the finished text is checked (grounding.py); a violation replaces it with the template;
- an unfinished last sentence (the token limit hit mid-sentence) is cut off;
- `Done.text` is always exactly what should be on screen at the end.
"""

from __future__ import annotations

import contextlib
import importlib.util
import queue
import re
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from musechat_tui.config import Settings
from musechat_tui.errors import ConfigError, ModelLoadError
from musechat_tui.explain.base import Done, Event, Explainer, ExplainerError, Replace, Token
from musechat_tui.explain.facts import ExplanationFacts, TrackFacts
from musechat_tui.explain.grounding import (
    DEFAULT_TAGS_FILE,
    check_grounding,
    contradictions,
    load_tag_vocabulary,
)
from musechat_tui.explain.template import TemplateExplainer, plan_sentences, template_text

_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*(?=\s|$)")
_ENDS_SENTENCE = re.compile(r"[.!?…][\"'”’)\]]*$")


def tidy(text: str) -> str:
    """Strips, and cuts an unfinished last sentence when at least one sentence is complete."""
    text = text.strip()
    if not text or _ENDS_SENTENCE.search(text):
        return text
    ends = list(_SENTENCE_END.finditer(text))
    return text[: ends[-1].end()] if ends else text


_NUMBER = re.compile(r"\d+(?::\d\d)?")


def dropped_facts(text: str, facts: ExplanationFacts) -> list[str]:
    """What a rewrite of the planned explanation left out: the track's title and every
    number of the plan (tempi, times). An LLM may rephrase the plan, not thin it."""
    planned = template_text(facts)
    issues = []
    if facts.track.title.lower() not in text.lower():
        issues.append("leaves out the track's title")
    missing = [n for n in dict.fromkeys(_NUMBER.findall(planned)) if n not in _NUMBER.findall(text)]
    if missing:
        issues.append(f"leaves out the planned numbers {', '.join(missing)}")
    return issues


def _words(text: str) -> list[str]:
    return re.findall(r"\S+\s*", text)


BACKOFF_S = 60.0  # after a backend failure; doubled after each failed retry
BACKOFF_MAX_S = 600.0


class GuardedExplainer:
    def __init__(
        self,
        explainer: Explainer,
        *,
        timeout_s: float = 20.0,
        first_token_timeout_s: float = 10.0,
        vocabulary: frozenset[str] | None = None,
    ) -> None:
        self.explainer = explainer
        self.timeout_s = timeout_s
        self.first_token_timeout_s = min(first_token_timeout_s, timeout_s)
        self.vocabulary = load_tag_vocabulary() if vocabulary is None else vocabulary
        # A backend that failed (timed out, refused, crashed) is not asked again until
        # `_retry_at`: each turn meanwhile gets the template at once, not another timeout.
        self._failures = 0
        self._retry_at = 0.0
        self._last_failure = ""

    def _backed_off(self) -> float:
        """Seconds until the failed backend is tried again (0: try it now)."""
        return max(0.0, self._retry_at - time.monotonic())

    def _failed(self, failure: str) -> None:
        self._failures += 1
        delay = min(BACKOFF_MAX_S, BACKOFF_S * 2 ** (self._failures - 1))
        self._retry_at = time.monotonic() + delay
        self._last_failure = failure

    @property
    def id(self) -> str:
        return self.explainer.id

    def close(self) -> None:
        self.explainer.close()

    def explain(self, facts: ExplanationFacts, others: Iterable[TrackFacts | str] = ()) -> Done:
        """Runs the stream to the end; the final event."""
        done: Done | None = None
        for event in self.events(facts, others):
            if isinstance(event, Done):
                done = event
        assert done is not None
        return done

    def events(
        self, facts: ExplanationFacts, others: Iterable[TrackFacts | str] = ()
    ) -> Iterator[Event]:
        """`others`: tracks (or names) the text must not name, e.g. this turn's other
        recommendations; the previous track in `facts` is always included."""
        others = list(others)
        start = time.monotonic()
        wait = self._backed_off()
        if isinstance(self.explainer, TemplateExplainer) or wait:
            text = template_text(facts)
            for word in _words(text):
                yield Token(word)
            note = (
                f"The LLM failed earlier ({self._last_failure}); showing the template "
                f"explanation until it is tried again in {wait:.0f} s."
                if wait
                else None
            )
            yield Done(text, "template", note=note, elapsed_s=time.monotonic() - start)
            return

        pieces: queue.Queue[tuple[str, str | None]] = queue.Queue()
        cancel = threading.Event()
        threading.Thread(
            target=self._pump, args=(facts, pieces, cancel), name="explainer", daemon=True
        ).start()
        shown: list[str] = []
        first: float | None = None
        failure: str | None = None
        try:
            while True:
                limit = self.timeout_s if first is not None else self.first_token_timeout_s
                wait = start + limit - time.monotonic()
                if wait <= 0:
                    failure = (
                        f"no answer within {limit:g} s"
                        if first is None
                        else f"not finished within {limit:g} s"
                    )
                    break
                try:
                    kind, value = pieces.get(timeout=wait)
                except queue.Empty:
                    continue  # the loop turns this into a timeout
                if kind == "opening" and value:  # the plan's own words: not the model's
                    shown.append(value)
                    yield Token(value)
                elif kind == "piece" and value:
                    if first is None:
                        first = time.monotonic() - start
                    shown.append(value)
                    yield Token(value)
                elif kind == "end":
                    break
                elif kind == "error":
                    failure = value or "unknown error"
                    break
        finally:
            cancel.set()  # also when the consumer stops reading early

        elapsed = time.monotonic() - start
        stats = {"first_token_s": first, "elapsed_s": elapsed, "n_pieces": len(shown)}
        raw = "".join(shown)
        text = tidy(raw)
        if failure is None and not text:
            failure = "it returned no text"
        if failure is not None:
            self._failed(failure)
            fallback = template_text(facts)
            yield Replace(fallback, f"{self.id} failed: {failure}")
            note = f"The LLM failed ({failure}); showing the template explanation."
            yield Done(fallback, "template", note=note, **stats)  # type: ignore[arg-type]
            return

        self._failures = 0  # it answered: back to normal
        grounding = check_grounding(text, facts, others, self.vocabulary)
        issues = (*grounding.issues, *contradictions(text, facts), *dropped_facts(text, facts))
        if issues:
            fallback = template_text(facts)
            yield Replace(fallback, f"not grounded in the facts: {'; '.join(issues)}")
            note = "The LLM's explanation went beyond the facts; showing the planned one."
            yield Done(
                fallback,
                "template",
                note=note,
                issues=tuple(issues),
                **stats,  # type: ignore[arg-type]
            )
            return
        if text != raw.strip():
            yield Replace(text, "cut an unfinished sentence")
        yield Done(text, self.id, **stats)  # type: ignore[arg-type]

    def _pump(
        self,
        facts: ExplanationFacts,
        pieces: queue.Queue[tuple[str, str | None]],
        cancel: threading.Event,
    ) -> None:
        """Worker thread: LLM pieces into the queue until done, failed or cancelled."""
        stream: Iterator[str] | None = None
        try:
            if self.explainer.rewrites_plan:
                pieces.put(("opening", plan_sentences(facts)[0] + " "))
            stream = iter(self.explainer.stream(facts))
            for piece in stream:
                if cancel.is_set():
                    return
                pieces.put(("piece", piece))
            pieces.put(("end", None))
        except (ExplainerError, ModelLoadError) as exc:
            pieces.put(("error", str(exc)))
        except Exception as exc:  # noqa: BLE001 - any backend failure means: use the template
            pieces.put(("error", f"{type(exc).__name__}: {exc}"))
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):  # already finished or falling back
                    close()  # stops generation / closes the HTTP response


def build_explainer(settings: Settings) -> Explainer:
    """The explainer `settings.explainer` asks for. 'auto': the OpenAI-compatible endpoint
    when base URL and model are set, else llama.cpp with llm_model or the packaged SmolLM2
    (conditioned on the track embedding when a trained projector is configured or lies
    beside llm_model), else the template. Only the small projector is loaded here."""
    from musechat_tui.explain.llama import LlamaCppExplainer, packaged_model_path
    from musechat_tui.explain.openai_backend import OpenAIExplainer
    from musechat_tui.explain.trained import projector_path, trained_explainer

    choice = settings.explainer
    if choice == "auto":
        if settings.openai_base_url and settings.openai_model:
            choice = "openai"
        elif importlib.util.find_spec("llama_cpp") is None:
            return TemplateExplainer()
        else:
            try:
                path = settings.llm_model or packaged_model_path()
            except ModelLoadError:
                return TemplateExplainer()
            choice = "llama" if path.is_file() else "template"
    if choice == "template":
        return TemplateExplainer()
    if choice == "openai":
        if not (settings.openai_base_url and settings.openai_model):
            raise ConfigError("explainer 'openai' needs openai_base_url and openai_model")
        return OpenAIExplainer(
            settings.openai_base_url,
            settings.openai_model,
            timeout_s=settings.llm_timeout_s,
            max_tokens=settings.llm_max_tokens,
        )
    path = settings.llm_model or packaged_model_path()
    if not path.is_file():
        raise ModelLoadError(f"{path}: GGUF model file does not exist")
    llama = LlamaCppExplainer(
        path,
        threads=settings.llm_threads or settings.threads,
        max_tokens=settings.llm_max_tokens,
        repack=settings.llm_repack,
    )
    projector = projector_path(settings)  # a trained generator from musechat-trainer export
    return trained_explainer(llama, projector) if projector else llama


def build_guarded_explainer(settings: Settings) -> GuardedExplainer:
    tags_file = Path(settings.musicnn_dir) / "tags.json"
    return GuardedExplainer(
        build_explainer(settings),
        timeout_s=settings.llm_timeout_s,
        first_token_timeout_s=settings.llm_first_token_timeout_s,
        vocabulary=load_tag_vocabulary(tags_file if tags_file.is_file() else DEFAULT_TAGS_FILE),
    )
