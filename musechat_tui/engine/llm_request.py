"""An optional LLM reading of a refinement request, for when a capable model is at hand
(an OpenAI-compatible endpoint, or a GGUF bigger than the packaged SmolLM2): the request
goes through one schema-constrained call (the endpoint's JSON-schema response format, or
llama.cpp's grammar from the same schema), is validated with pydantic, and becomes the
same typed Request the rules give. The rules are the default and the fallback: any
failure (unreachable, timeout, invalid output) is logged and the rules' reading is used.

The model only fills slots: concepts, uses and keys are enumerations of what the engine
knows; artist names must be catalog names (others are dropped); numbers are bounded.
Open words and the text encoder's query still come from the rules.
"""

from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field, ValidationError

from musechat_tui.engine.constraints.artist import ArtistRequest
from musechat_tui.engine.constraints.concept import add_concept
from musechat_tui.engine.constraints.duration import Bound, DurationRequest
from musechat_tui.engine.constraints.key import KeyRequest
from musechat_tui.engine.constraints.loudness import LoudnessRequest
from musechat_tui.engine.constraints.open_words import OpenRequest
from musechat_tui.engine.constraints.tempo import AROUND_SPAN, TempoRequest
from musechat_tui.engine.constraints.use import UseRequest
from musechat_tui.engine.requests import NameBook, ReferenceRequest, Request, name_key
from musechat_tui.engine.vocabulary import CONCEPTS, USES
from musechat_tui.errors import ModelLoadError
from musechat_tui.music_character import PITCH_CLASSES

if TYPE_CHECKING:
    from musechat_tui.config import Settings

log = logging.getLogger(__name__)

ConceptName = Literal[tuple(c.name for c in CONCEPTS)]  # type: ignore[valid-type]
UseName = Literal[tuple(u.name for u in USES)]  # type: ignore[valid-type]
Tonic = Literal[PITCH_CLASSES]  # type: ignore[valid-type]


class LLMConcept(BaseModel):
    concept: ConceptName
    polarity: Literal["want", "less", "exclude"]


class LLMTempo(BaseModel):
    direction: Literal["faster", "slower", "same", "half", "double", "range"]
    low_bpm: float | None = Field(None, ge=30, le=300)
    high_bpm: float | None = Field(None, ge=30, le=300)
    around_bpm: float | None = Field(None, ge=30, le=300)


class LLMDuration(BaseModel):
    min_seconds: float | None = Field(None, ge=0, le=7200)
    max_seconds: float | None = Field(None, ge=0, le=7200)
    at_least_the_video: bool = False
    at_most_the_video: bool = False


class LLMArtist(BaseModel):
    name: str = Field(max_length=200)
    mode: Literal["like", "only", "exclude"]


class LLMKey(BaseModel):
    mode: Literal["major", "minor"]
    tonic: Tonic | None = None


class LLMReference(BaseModel):
    rank: int = Field(ge=-1, le=50, description="position in the last list; -1 the last")
    action: Literal["anchor", "reject", "restore", "accept"]


class LLMRequest(BaseModel):
    """What the model may say about one request (its JSON schema is the constraint)."""

    concepts: list[LLMConcept] = Field(default_factory=list, max_length=12)
    tempo: LLMTempo | None = None
    duration: LLMDuration | None = None
    loudness: Literal["quieter", "louder"] | None = None
    artists: list[LLMArtist] = Field(default_factory=list, max_length=6)
    key: LLMKey | None = None
    use: UseName | None = None
    references: list[LLMReference] = Field(default_factory=list, max_length=10)
    something_different: bool = False
    start_over: bool = False


SCHEMA = LLMRequest.model_json_schema()

SYSTEM = (
    "You read what a video creator asks of the music for their video and fill a JSON "
    "object. Fill only what the words ask for; leave everything else out. Concepts are "
    "tags with a polarity: want, less (a bit less of it) or exclude (none of it). "
    "Tempo: faster/slower/same relative to the current pick, half/double of it, or a bpm "
    "range. References are to the numbered list the user sees (#1 is rank 1). Concepts: "
    + ", ".join(c.name for c in CONCEPTS)
    + ". Uses: "
    + ", ".join(u.name for u in USES)
    + "."
)


class RequestLLMError(RuntimeError):
    pass


class RequestLLM(ABC):
    """One schema-constrained completion: the model's JSON text for `messages`."""

    id: str

    @abstractmethod
    def complete(self, messages: list[dict[str, str]], schema: dict[str, Any]) -> str: ...

    def close(self) -> None:  # noqa: B027 - nothing to release by default
        pass


class OpenAIRequestLLM(RequestLLM):
    """An OpenAI-compatible endpoint. OpenAI's own `json_schema` response format first; a
    server that refuses it (llama.cpp's) gets its `json_object` + schema form instead."""

    def __init__(self, base_url: str, model: str, timeout_s: float = 20.0) -> None:
        from musechat_tui.explain.openai_backend import openai_client

        self.id = f"openai:{model}"
        self.model = model
        self._client = openai_client(base_url, timeout_s)
        self._form: str | None = None  # which response format the server took

    def _format(self, form: str, schema: dict[str, Any]) -> dict[str, Any]:
        if form == "json_schema":
            return {"type": "json_schema", "json_schema": {"name": "request", "schema": schema}}
        return {"type": "json_object", "schema": schema}

    def complete(self, messages: list[dict[str, str]], schema: dict[str, Any]) -> str:
        import openai

        forms = [self._form] if self._form else ["json_schema", "json_object"]
        for form in forms:
            try:
                response = self._client.chat.completions.create(
                    model=self.model,
                    messages=messages,  # type: ignore[arg-type]
                    response_format=self._format(form, schema),  # type: ignore[arg-type]
                    temperature=0.0,
                    max_tokens=400,
                )
            except (openai.BadRequestError, openai.UnprocessableEntityError):
                continue  # that format is not understood here: try the other one
            except openai.InternalServerError:
                if self._form is None:  # llama.cpp's server fails on the unknown format
                    continue
                raise RequestLLMError(f"{self.id}: InternalServerError (HTTP 500)") from None
            except openai.APIError as exc:
                status = getattr(exc, "status_code", None)
                raise RequestLLMError(
                    f"{self.id}: {type(exc).__name__}" + (f" (HTTP {status})" if status else "")
                ) from None
            self._form = form
            return response.choices[0].message.content or ""
        raise RequestLLMError(f"{self.id}: the endpoint takes no JSON-schema response format")

    def close(self) -> None:
        self._client.close()


class LlamaRequestLLM(RequestLLM):
    """A local GGUF through llama-cpp-python, constrained by a grammar from the schema."""

    def __init__(self, path: Path, threads: int) -> None:
        from musechat_tui.explain.llama import load_llama

        self.id = f"llama:{path.name}"
        self._llm = load_llama(path, threads=threads, n_ctx=2048)

    def complete(self, messages: list[dict[str, str]], schema: dict[str, Any]) -> str:
        out = self._llm.create_chat_completion(
            messages=messages,  # type: ignore[arg-type]
            response_format={"type": "json_object", "schema": schema},
            temperature=0.0,
            max_tokens=400,
        )
        return out["choices"][0]["message"]["content"] or ""  # type: ignore[index]

    def close(self) -> None:
        self._llm.close()


def parse_with_llm(llm: RequestLLM, text: str) -> LLMRequest:
    """The model's reading of `text`, validated; RequestLLMError when there is none."""
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}]
    raw = llm.complete(messages, SCHEMA)
    try:
        return LLMRequest.model_validate(json.loads(raw))
    except (ValueError, ValidationError) as exc:
        raise RequestLLMError(f"{llm.id}: not a valid reading ({type(exc).__name__})") from None


def to_request(parsed: LLMRequest, text: str, names: NameBook, rules: Request) -> Request:
    """The typed Request of a validated LLM reading. The rules' open words and query text
    are kept (they come from the text encoder, not from slots)."""
    req = Request(text=text, query_text=rules.query_text, extra_query=list(rules.extra_query))
    for c in parsed.concepts:
        add_concept(req, c.concept, c.polarity)
    if t := parsed.tempo:
        if t.direction in ("half", "double"):
            req.add(TempoRequest("factor", amount=0.5 if t.direction == "half" else 2.0))
        elif t.direction != "range":
            req.add(TempoRequest(t.direction))
        elif t.around_bpm is not None:
            b = t.around_bpm
            req.add(TempoRequest("range", b * (1 - AROUND_SPAN), b * (1 + AROUND_SPAN)))
        elif t.low_bpm is not None or t.high_bpm is not None:
            req.add(TempoRequest("range", t.low_bpm, t.high_bpm))
    if d := parsed.duration:
        low = Bound(ref="video") if d.at_least_the_video else _seconds(d.min_seconds)
        high = Bound(ref="video") if d.at_most_the_video else _seconds(d.max_seconds)
        if low or high:
            req.add(DurationRequest(low, high))
    if parsed.loudness:
        req.add(LoudnessRequest(parsed.loudness))
    for a in parsed.artists:
        name = names.artists.get(name_key(a.name))
        if name is not None:  # only catalog names: a made-up one is dropped
            req.add(ArtistRequest(name, a.mode))
    if k := parsed.key:
        tonic = PITCH_CLASSES.index(k.tonic) if k.tonic else None
        req.add(KeyRequest(k.mode, tonic))
    if parsed.use:
        req.add(UseRequest(parsed.use))
    req.references = [ReferenceRequest(r.action, rank=r.rank) for r in parsed.references if r.rank]
    req.references += [r for r in rules.references if r.track_id is not None]  # named titles
    req.different = parsed.something_different
    req.reset = parsed.start_over
    req.restore_all = rules.restore_all
    for part in rules.parts_of(OpenRequest):
        req.add(part)
    return req


def _seconds(value: float | None) -> Bound | None:
    return Bound(value) if value else None


def read_request(
    text: str, names: NameBook, rules: Request, llm: RequestLLM | None
) -> tuple[Request, str]:
    """(the request, who read it: "llm" or "rules"). A failing LLM is logged, not shown."""
    if llm is None:
        return rules, "rules"
    try:
        return to_request(parse_with_llm(llm, text), text, names, rules), "llm"
    except RequestLLMError as exc:
        log.warning("request parse fell back to the rules: %s", exc)
        return rules, "rules"
    except Exception as exc:  # noqa: BLE001 - a backend bug must not cost the turn
        log.warning("request parse fell back to the rules: %s: %s", llm.id, type(exc).__name__)
        return rules, "rules"


def build_request_llm(settings: Settings) -> RequestLLM | None:
    """The LLM the settings give requests to, or None for the rules alone."""
    from musechat_tui.explain.llama import packaged_model_path

    mode = settings.request_parser
    if mode == "rules":
        return None
    if settings.openai_base_url:
        return OpenAIRequestLLM(
            settings.openai_base_url,
            settings.openai_model or "default",
            timeout_s=settings.llm_timeout_s,
        )
    path = settings.llm_model
    threads = settings.llm_threads or settings.threads
    if mode == "llm":
        return LlamaRequestLLM(path or packaged_model_path(), threads)
    try:
        packaged = packaged_model_path().stat().st_size
    except ModelLoadError:
        packaged = 0
    if path is not None and path.is_file() and path.stat().st_size > packaged:
        return LlamaRequestLLM(path, threads)
    return None
