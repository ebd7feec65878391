"""musicnn (Pons & Serra, 2019) music tagger/encoder, run with onnxruntime only.

The MTT_musicnn and MSD_musicnn TF1 checkpoints of the musicnn 0.1.0 package were converted
once to ONNX (data/musicnn/convert_musicnn.py). Each model maps (batch, 187, 96) log-mel
patches (~3 s) to 50 sigmoid tag probabilities and a 200-d penultimate layer.

Per segment we average over its patches and return:
- embedding: [MTT penultimate | MSD penultimate] (400-d). The penultimate layers are the
  models' own learned summaries of a patch (what the tag heads read), far smaller than the
  753-d pools; using both models combines the instrument/mood vocabulary of MagnaTagATune
  with the genre/era vocabulary of the Million Song Dataset.
- tags: {"mtt": (S, 50), "msd": (S, 50)} probabilities.

The mel front end is musicnn's (librosa.feature.melspectrogram with n_fft 512, hop 256,
96 mels, centred frames with zero padding, periodic Hann window, Slaney mel scale and
normalisation, power 2, then log10(10000 * mel + 1)) re-done in numpy, so librosa (and its
numba JIT compile: 2-3 s on the first call with a warm numba cache, ~30 s cold, on this
project's 2-core machines) is not loaded at run time; tests check it equals librosa.

Speed: the graphs are compute-bound, in batches of 4 patches (~20 % faster than 16:
cache-sized). Each graph is rewritten once so its front end's batch norms follow the
frequency max pools (graph_rewrites.pool_before_batchnorm, exact) and kept in the user's
cache folder; the two models run side by side, each on half the threads (1.6x the patches
per second of one model after the other on two threads, where a small convolution does not
split well). ONNX Runtime's int8 versions were slower here and agreed less; reading two
patches of three kept 97.4 % of the demo tracks' top-5 tags but lowered two rows of
bench_engine's refinement table, so every patch is read.

Repeated calls are bit-for-bit identical. The same segment encoded in a batch of another
size may differ by ~1e-6 (onnxruntime picks convolution kernels by batch shape).
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from musechat_tui.encoders import graph_rewrites
from musechat_tui.encoders.base import AudioEncoder, AudioFeatures
from musechat_tui.encoders.onnx_models import onnx_session
from musechat_tui.errors import ModelLoadError

SR = 16_000
N_FFT = 512
HOP = 256
N_MELS = 96
PATCH_FRAMES = 187  # musicnn's default 3 s input: time_to_frames(3 s) + 1
MODELS = {"mtt": "MTT_musicnn.onnx", "msd": "MSD_musicnn.onnx"}
TAGS_FILE = "tags.json"
N_TAGS = 50
PENULTIMATE_DIM = 200
BATCH = 4  # patches per run: measured fastest on 2 threads (see above)


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney mel scale (librosa's default, htk=False): linear below 1 kHz, log above."""
    f = np.asarray(f, dtype=np.float64)
    mel = f / (200.0 / 3)
    log_region = f >= 1000.0
    mel[log_region] = 15.0 + np.log(f[log_region] / 1000.0) / (np.log(6.4) / 27.0)
    return mel


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    f = m * (200.0 / 3)
    log_region = m >= 15.0
    f[log_region] = 1000.0 * np.exp((np.log(6.4) / 27.0) * (m[log_region] - 15.0))
    return f


def mel_filterbank(sr: int = SR, n_fft: int = N_FFT, n_mels: int = N_MELS) -> np.ndarray:
    """(n_mels, 1 + n_fft // 2) float32, as librosa.filters.mel(sr=sr, n_fft=n_fft,
    n_mels=n_mels): triangles on the Slaney scale from 0 Hz to sr/2, Slaney area norm."""
    fft_freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    edges = _hz_to_mel(np.array([0.0, sr / 2.0]))
    mel_f = _mel_to_hz(np.linspace(edges[0], edges[1], n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fft_freqs)
    weights = np.zeros((n_mels, len(fft_freqs)), dtype=np.float32)
    for i in range(n_mels):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels]))[:, None]
    return weights


_MEL_BASIS = mel_filterbank()
# Periodic Hann (scipy.signal.get_window("hann", N_FFT, fftbins=True)), as librosa uses.
_WINDOW = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(N_FFT) / N_FFT)


def mel_power(audio: np.ndarray) -> np.ndarray:
    """16 kHz mono audio -> (frames, 96) float32 mel power spectrogram, equal (float
    rounding aside) to librosa.feature.melspectrogram(y=audio, sr=16000, n_fft=512,
    hop_length=256, n_mels=96).T."""
    y = np.asarray(audio, dtype=np.float32)
    # center=True, pad_mode="constant" (librosa >= 0.10): frame t is centred on t * HOP.
    y = np.pad(y, N_FFT // 2)
    frames = np.lib.stride_tricks.sliding_window_view(y, N_FFT)[::HOP]
    # float64 FFT like librosa (float64 window times float32 frames), then power in float32.
    spec = np.fft.rfft(frames * _WINDOW, axis=-1).astype(np.complex64)
    power = (spec.real**2 + spec.imag**2).astype(np.float32)
    return power @ _MEL_BASIS.T


def log_mel(audio: np.ndarray) -> np.ndarray:
    """16 kHz mono audio -> (frames, 96) float32 log10(10000 * mel + 1), musicnn's input.

    Unlike musicnn's own code we stay in float32: musicnn casts the mel to float16 before
    `10000 * mel`, so bins with mel > 6.55 overflow float16 (max 65504) to inf. On real
    recordings that is ~1-2 % of bins (0.8-1.9 % measured on four hyperrogue-music tracks),
    and the inf inputs turn the networks' outputs into NaN.
    """
    return np.log10(10000.0 * mel_power(audio) + 1.0, dtype=np.float32)


def patches(mel: np.ndarray) -> np.ndarray:
    """(frames, 96) -> (P, 187, 96): musicnn's non-overlapping patches (the tail shorter than
    a patch is dropped, as musicnn does).

    A mel shorter than one patch (audio under ~3 s) is repeated to fill a single patch, so
    every segment gets features. Repeating, not zero-padding: both models were trained with
    "pad_short": "repeat-pad" (their config.json), and on 2 s piano clips the repeated
    patch's embedding correlates 0.92-0.98 with that of the real 3 s patch vs 0.89-0.93
    for zero padding (zero log-mel is silence, which drags the mean pool down).
    """
    n = mel.shape[0]
    if n < PATCH_FRAMES:
        reps = -(-PATCH_FRAMES // n)
        return np.tile(mel, (reps, 1))[None, :PATCH_FRAMES].astype(np.float32, copy=False)
    starts = range(0, n - PATCH_FRAMES + 1, PATCH_FRAMES)
    return np.stack([mel[s : s + PATCH_FRAMES] for s in starts]).astype(np.float32, copy=False)


def _rewritten(source: Path, target: Path) -> None:
    """The converted graph with its batch norms after the pools (exact; graph_rewrites)."""
    import onnx

    try:
        model = onnx.load(str(source))
    except Exception as exc:  # protobuf's decode errors are untyped
        raise ModelLoadError(f"{source}: not a loadable ONNX model ({exc})") from None
    graph_rewrites.pool_before_batchnorm(model)
    onnx.save(model, str(target))


class MusicnnEncoder(AudioEncoder):
    """MTT + MSD musicnn on onnxruntime: 400-d segment embeddings and 2 x 50 tag scores."""

    id = "musicnn-mtt+msd-onnx-v1"
    dim = 2 * PENULTIMATE_DIM
    sample_rate = SR

    def __init__(self, model_dir: Path, batch_size: int = 16, threads: int | None = None) -> None:
        self.model_dir = Path(model_dir)
        self.batch_size = max(1, min(int(batch_size), BATCH))
        self.tag_names = self._load_tags(self.model_dir / TAGS_FILE)

        total = threads or os.cpu_count() or 1
        # Side by side when there are threads for both; one after the other otherwise.
        self._side_by_side = total >= len(MODELS)
        per_model = max(1, total // len(MODELS)) if self._side_by_side else total
        self._sessions: dict[str, Any] = {}
        for vocab, filename in MODELS.items():
            path = self.model_dir / filename
            if not path.is_file():
                raise ModelLoadError(f"{path}: musicnn model file is missing")
            try:
                _, sess = onnx_session(
                    f"musicnn-{vocab}",
                    [path, Path(graph_rewrites.__file__)],
                    lambda out, src=path: _rewritten(src, out),
                    per_model,
                )
            except ModelLoadError as exc:
                if str(path) in str(exc):
                    raise
                raise ModelLoadError(f"{path}: {exc}") from None
            outputs = {o.name for o in sess.get_outputs()}
            if not {"tags", "penultimate"} <= outputs or sess.get_inputs()[0].name != "mel":
                raise ModelLoadError(
                    f"{path}: not a converted musicnn model (needs input 'mel', outputs "
                    f"'tags' and 'penultimate'; has {sorted(outputs)})"
                )
            self._sessions[vocab] = sess

    @staticmethod
    def _load_tags(path: Path) -> dict[str, list[str]]:
        if not path.is_file():
            raise ModelLoadError(f"{path}: musicnn tag list is missing")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            names = {vocab: [str(t) for t in data[vocab]] for vocab in MODELS}
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
            raise ModelLoadError(f"{path}: invalid musicnn tag list ({exc})") from None
        for vocab, tags in names.items():
            if len(tags) != N_TAGS:
                raise ModelLoadError(f"{path}: {vocab} has {len(tags)} tags, expected {N_TAGS}")
        return names

    def _run(self, batch: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """All patches -> per model (tags (P, 50), penultimate (P, 200)), batch_size at a time."""

        def run(sess: Any) -> tuple[np.ndarray, np.ndarray]:
            tags, pen = [], []
            for i in range(0, len(batch), self.batch_size):
                t, p = sess.run(["tags", "penultimate"], {"mel": batch[i : i + self.batch_size]})
                tags.append(t)
                pen.append(p)
            return np.concatenate(tags), np.concatenate(pen)

        if not self._side_by_side:
            return {vocab: run(sess) for vocab, sess in self._sessions.items()}
        # onnxruntime releases the GIL while it runs: the two models share the cores
        with ThreadPoolExecutor(len(self._sessions) - 1) as pool:
            (vocab, first), *rest = self._sessions.items()
            later = {v: pool.submit(run, s) for v, s in rest}
            out = {vocab: run(first)}
            out.update({v: f.result() for v, f in later.items()})
        return out

    def encode(self, segments: list[np.ndarray]) -> AudioFeatures:
        """Mono float32 16 kHz segments (any lengths) -> 400-d embeddings and MTT/MSD tags."""
        segment_patches = []
        for i, seg in enumerate(segments):
            seg = np.asarray(seg, dtype=np.float32)
            if seg.ndim != 1:
                raise ValueError(f"segment {i}: expected mono 1-D audio, got shape {seg.shape}")
            segment_patches.append(patches(log_mel(seg)))
        n = len(segment_patches)
        if n == 0:
            return AudioFeatures(
                embeddings=np.zeros((0, self.dim), dtype=np.float32),
                tags={v: np.zeros((0, N_TAGS), dtype=np.float32) for v in MODELS},
                tag_names={v: list(t) for v, t in self.tag_names.items()},
            )

        # Patches of all segments go through the sessions together, then are averaged back.
        counts = np.array([len(p) for p in segment_patches])
        bounds = np.concatenate([[0], np.cumsum(counts)])
        results = self._run(np.concatenate(segment_patches))

        def per_segment(x: np.ndarray) -> np.ndarray:
            return np.stack(
                [x[a:b].mean(axis=0) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
            )

        embeddings = np.concatenate([per_segment(results[v][1]) for v in MODELS], axis=1)
        return AudioFeatures(
            embeddings=embeddings.astype(np.float32),
            tags={v: per_segment(results[v][0]).astype(np.float32) for v in MODELS},
            tag_names={v: list(t) for v, t in self.tag_names.items()},
        )
