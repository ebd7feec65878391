"""Conversations through any OpenAI-compatible chat endpoint (OpenAI, vLLM, llama.cpp's
server ...) with the paper's template prompt, as the paper did with GPT-3.5.

- Cache: every answer is stored on disk under the hash of the request (model, prompt,
  temperature, max tokens, and the seed drawn from the quartet and attempt) before it is
  used, so a run that is killed and started again re-reads what it already paid for
  instead of asking again.
- Retries: connection errors, timeouts, 429 and 5xx are retried with exponential backoff
  and jitter (a Retry-After header is honoured); an endpoint still failing after the
  retries stops the run (it is resumable); a request the endpoint rejects (400) fails that
  one conversation only; a bad key or model name stops the run at once.
- Rate limit: at most `rpm` requests a minute over all worker threads.
The API key is read from OPENAI_API_KEY (never stored); local servers need none.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from builder.synth.facts import PromptTrackFacts
from builder.synth.prompt import fill, load_template, parse_conversation
from musechat_tui.dataset import Turn
from musechat_tui.errors import MuseChatError


class LLMError(MuseChatError):
    """The endpoint cannot be used (unreachable after retries, bad key, unknown model)."""


class LLMRequestRejected(Exception):
    """The endpoint refused this one request (e.g. 400): that conversation fails."""


class RateLimiter:
    """At most `rpm` acquisitions a minute, spaced evenly, shared by threads."""

    def __init__(self, rpm: float | None) -> None:
        self.interval = 60.0 / rpm if rpm else 0.0
        self.next = 0.0
        self.lock = threading.Lock()

    def acquire(self) -> None:
        if not self.interval:
            return
        with self.lock:
            now = time.monotonic()
            wait = self.next - now
            self.next = max(now, self.next) + self.interval
        if wait > 0:
            time.sleep(wait)


class AnswerCache:
    """One JSON file per answer, written through a temp name (a kill never leaves half)."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def key(request: dict[str, Any]) -> str:
        return hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()

    def _path(self, key: str) -> Path:
        return self.dir / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        try:
            return json.loads(self._path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def put(self, key: str, value: dict[str, Any]) -> None:
        p = self._path(key)
        p.parent.mkdir(exist_ok=True)
        tmp = p.with_name(f".{p.name}.{threading.get_ident()}.part")
        tmp.write_text(json.dumps(value, ensure_ascii=False), encoding="utf-8")
        tmp.replace(p)


@dataclass
class LLMStats:
    requests: int = 0
    cache_hits: int = 0
    retries: int = 0
    rejected: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **counts: int) -> None:
        with self.lock:
            for k, v in counts.items():
                setattr(self, k, getattr(self, k) + v)

    def as_dict(self) -> dict[str, int]:
        return {k: v for k, v in self.__dict__.items() if k != "lock"}


def _retry_after(exc: Exception) -> float | None:
    response = getattr(exc, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return float(value) if value else None
    except ValueError:
        return None


class OpenAIGenerator:
    def __init__(
        self,
        base_url: str,
        model: str,
        cache_dir: Path,
        *,
        rpm: float | None = None,
        max_retries: int = 5,
        timeout: float = 120.0,
        temperature: float = 0.7,
        max_tokens: int = 400,
        template_path: Path | None = None,
        backoff: float = 1.0,
    ) -> None:
        import openai

        self.model = model
        self.template = load_template(template_path)
        self.client = openai.OpenAI(
            base_url=base_url,
            api_key=os.environ.get("OPENAI_API_KEY") or "sk-no-key",
            max_retries=0,  # retried here, so they are counted and backed off our way
            timeout=timeout,
        )
        self.cache = AnswerCache(cache_dir)
        self.limiter = RateLimiter(rpm)
        self.max_retries = max_retries
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.backoff = backoff
        self.stats = LLMStats()

    @property
    def id(self) -> str:
        return f"openai:{self.model}"

    def complete(self, prompt: str, attempt: int = 0, salt: str = "") -> str:
        """The model's answer to `prompt` (from the cache when asked before). The seed
        comes from `salt` (the quartet) and the attempt: a regeneration is a new sample,
        two quartets with the same facts get samples of their own, and each is
        reproducible."""
        seed = attempt
        if salt:
            digest = hashlib.blake2b(f"{salt}:{attempt}".encode(), digest_size=4).digest()
            seed = int.from_bytes(digest, "little") & 0x7FFFFFFF
        request = {
            "model": self.model,
            "messages": [{"role": "user", "content": prompt}],
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "seed": seed,
        }
        key = self.cache.key(request)
        cached = self.cache.get(key)
        if cached is not None:
            self.stats.add(cache_hits=1)
            return str(cached["text"])
        response = self._request(request)
        text = response.choices[0].message.content or ""
        usage = getattr(response, "usage", None)
        self.stats.add(
            prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
            completion_tokens=getattr(usage, "completion_tokens", 0) or 0,
        )
        self.cache.put(key, {"text": text, "model": response.model, "request": request})
        return text

    def _request(self, request: dict[str, Any]) -> Any:
        import openai

        for attempt in range(self.max_retries + 1):
            self.limiter.acquire()
            self.stats.add(requests=1)
            try:
                return self.client.chat.completions.create(**request)
            except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
                raise LLMError(f"{self.client.base_url}: access refused: {exc}") from None
            except openai.NotFoundError as exc:
                raise LLMError(
                    f"{self.client.base_url}: model {self.model!r} or endpoint not found: {exc}"
                ) from None
            except (
                openai.APIConnectionError,  # includes timeouts
                openai.RateLimitError,
                openai.InternalServerError,
                openai.ConflictError,
            ) as exc:
                if attempt == self.max_retries:
                    raise LLMError(
                        f"{self.client.base_url}: still failing after {self.max_retries} "
                        f"retries: {type(exc).__name__}: {exc}"
                    ) from None
                self.stats.add(retries=1)
                delay = _retry_after(exc) or self.backoff * 2**attempt
                time.sleep(min(60.0, delay) * (1 + 0.25 * random.random()))
            except openai.APIStatusError as exc:  # 400, 422 ...: this request only
                self.stats.add(rejected=1)
                raise LLMRequestRejected(f"{exc.status_code}: {exc}") from None
        raise AssertionError("unreachable")

    def generate(
        self,
        target: PromptTrackFacts,
        candidate: PromptTrackFacts,
        attempt: int = 0,
        salt: str = "",
    ) -> tuple[list[Turn], str]:
        """(turns, raw answer) for one quartet; the turns may break the rules (validate)."""
        text = self.complete(fill(self.template, target, candidate), attempt, salt)
        return parse_conversation(text), text
