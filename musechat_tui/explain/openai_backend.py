"""Explanations from any OpenAI-compatible endpoint (OpenAI itself, llama.cpp's server,
vLLM, Ollama, ...) through the `openai` package.

The API key comes from the environment only (MUSECHAT_OPENAI_API_KEY, else OPENAI_API_KEY):
it is never a setting, never stored on this object, and never put in a message. A local
server without authentication works with no key set (a placeholder is sent)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from urllib.parse import urlsplit

from musechat_tui.explain.base import Explainer, ExplainerError
from musechat_tui.explain.facts import ExplanationFacts
from musechat_tui.explain.llama import SEED, TEMPERATURE
from musechat_tui.explain.prompt import chat_messages

KEY_VARIABLES = ("MUSECHAT_OPENAI_API_KEY", "OPENAI_API_KEY")
NO_KEY = "no-key"  # what a key-less local server receives


def api_key_from_env() -> str | None:
    for name in KEY_VARIABLES:
        if value := os.environ.get(name, "").strip():
            return value
    return None


def openai_client(base_url: str, timeout_s: float):  # noqa: ANN201 - openai.OpenAI, lazily
    """A client for an OpenAI-compatible endpoint, the key from the environment only.
    Connecting fails fast; the read timeout covers the wait between streamed chunks; no
    retries (callers fall back instead)."""
    import openai

    return openai.OpenAI(
        api_key=api_key_from_env() or NO_KEY,
        base_url=base_url,
        timeout=openai.Timeout(timeout_s, connect=min(5.0, timeout_s)),
        max_retries=0,
    )


class OpenAIExplainer(Explainer):
    rewrites_plan = True

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        timeout_s: float = 20.0,
        max_tokens: int = 80,
        temperature: float = TEMPERATURE,
        seed: int = SEED,
    ) -> None:
        self.base_url = base_url
        self.model = model
        self.timeout_s = timeout_s
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.seed = seed
        self._client = None

    @property
    def id(self) -> str:
        return f"openai:{self.model}@{urlsplit(self.base_url).netloc or self.base_url}"

    def __repr__(self) -> str:  # no key, ever
        return f"OpenAIExplainer(base_url={self.base_url!r}, model={self.model!r})"

    def _get_client(self):  # noqa: ANN202 - openai.OpenAI, imported lazily
        if self._client is None:
            self._client = openai_client(self.base_url, self.timeout_s)
        return self._client

    def stream(self, facts: ExplanationFacts) -> Iterator[str]:
        import openai

        try:
            response = self._get_client().chat.completions.create(
                model=self.model,
                messages=chat_messages(facts),  # type: ignore[arg-type]
                stream=True,
                max_tokens=self.max_tokens,
                temperature=self.temperature,
                seed=self.seed,
            )
            try:
                for chunk in response:
                    if chunk.choices and (piece := chunk.choices[0].delta.content):
                        yield piece
            finally:
                response.close()  # also when the guard stops reading early
        except openai.APIError as exc:
            # The class name and status say enough; messages could echo request details.
            status = getattr(exc, "status_code", None)
            detail = f" (HTTP {status})" if status else ""
            raise ExplainerError(f"{self.id}: {type(exc).__name__}{detail}") from None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
