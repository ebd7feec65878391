"""Silero VAD (speech detection) on ONNX Runtime, without torch.

The `silero-vad` wheel ships the model as ONNX, but every module of the package imports
torch (2 s here), so its sequence graph (`silero_vad_16k_sequence.onnx`: a block of 32 ms
frames per call, each with the previous frame's last 64 samples as context) is run here
directly, and the package's speech-segment rules (enter at 0.5, leave below 0.35 after
100 ms, drop segments under 250 ms, pad 30 ms) are applied to its probabilities.
tests/test_scene.py checks the speech share against the package's own
get_speech_timestamps.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from musechat_tui.encoders.onnx_models import ort_session
from musechat_tui.errors import ModelLoadError

SAMPLE_RATE = 16_000
FRAME = 512  # samples per probability (32 ms)
CONTEXT = 64  # samples of the previous frame each frame sees
BLOCK_FRAMES = 512  # frames per ONNX call (16 s)
THRESHOLD = 0.5
NEG_THRESHOLD = THRESHOLD - 0.15
MIN_SPEECH_MS = 250
MIN_SILENCE_MS = 100
SPEECH_PAD_MS = 30
MODEL_FILE = "silero_vad_16k_sequence.onnx"


def model_path() -> Path:
    """The sequence graph inside the installed wheel, found without importing it."""
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError("Silero VAD: the package silero-vad is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / MODEL_FILE
    if not path.is_file():
        raise ModelLoadError(f"Silero VAD: {path} is missing (silero-vad >= 6.2 ships it)")
    return path


@functools.cache
def _session() -> Any:
    return ort_session(model_path(), 1)


def speech_probabilities(samples: np.ndarray) -> np.ndarray:
    """One speech probability per 32 ms frame of mono 16 kHz `samples`."""
    x = np.ascontiguousarray(samples, dtype=np.float32).reshape(-1)
    n = (len(x) + FRAME - 1) // FRAME
    if n == 0:
        return np.zeros(0, np.float32)
    frames = np.zeros((n, FRAME), np.float32)
    frames.reshape(-1)[: len(x)] = x
    context = np.zeros((n, CONTEXT), np.float32)
    context[1:] = frames[:-1, -CONTEXT:]
    inputs = np.concatenate([context, frames], axis=1)
    h = np.zeros((1, 1, 128), np.float32)
    c = np.zeros((1, 1, 128), np.float32)
    out = []
    for start in range(0, n, BLOCK_FRAMES):
        probs, h, c = _session().run(
            ["speech_probs", "hn", "cn"],
            {"input": inputs[start : start + BLOCK_FRAMES], "h": h, "c": c},
        )
        out.append(probs.reshape(-1))
    return np.concatenate(out).astype(np.float32)


def speech_spans(probs: np.ndarray, n_samples: int) -> list[tuple[int, int]]:
    """Speech segments (start, end) in samples from frame probabilities: hysteresis
    between THRESHOLD and NEG_THRESHOLD, short silences bridged, short bursts dropped,
    each segment padded (overlaps merged)."""
    min_silence = MIN_SILENCE_MS * SAMPLE_RATE // 1000
    min_speech = MIN_SPEECH_MS * SAMPLE_RATE // 1000
    pad = SPEECH_PAD_MS * SAMPLE_RATE // 1000
    spans: list[tuple[int, int]] = []
    start: int | None = None
    silent_since: int | None = None
    for i, p in enumerate(probs):
        at = i * FRAME
        if p >= THRESHOLD:
            silent_since = None
            if start is None:
                start = at
        elif start is not None and p < NEG_THRESHOLD:
            silent_since = at if silent_since is None else silent_since
            if at - silent_since >= min_silence:
                if silent_since - start > min_speech:
                    spans.append((start, silent_since))
                start, silent_since = None, None
    if start is not None and n_samples - start > min_speech:
        spans.append((start, n_samples))
    merged: list[tuple[int, int]] = []
    for s, e in spans:
        s, e = max(0, s - pad), min(n_samples, e + pad)
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
        else:
            merged.append((s, e))
    return merged


def speech_share(samples: np.ndarray) -> float:
    """Share of mono 16 kHz `samples` inside speech segments."""
    spans = speech_spans(speech_probabilities(samples), len(samples))
    return float(sum(e - s for s, e in spans) / max(1, len(samples)))
