"""The export's soundtrack as samples: the music fitted to the video's length (looped at bar
boundaries, or cut to end on a bar line), laid under the video's own sound (replace, mix or
duck), and normalised to a target integrated loudness (ITU-R BS.1770, pyloudnorm) under a
true-peak ceiling. Everything here works on (channels, n) float32 planes at one rate; the
beat grid comes from librosa's beat tracker.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

MixMode = Literal["replace", "mix", "duck"]

BEATS_PER_BAR = 4
BEAT_RATE = 22_050  # the beat tracker's rate: its own default
OVERSAMPLE = 4  # true peak per BS.1770-4 annex 2: 4x oversampling at 48 kHz


@dataclass(frozen=True)
class MixSettings:
    mode: MixMode = "duck"
    music_db: float = -8.0  # music loudness against the original's, in mix and duck
    duck_db: float = -12.0  # the dip under the original's foreground sound
    attack_s: float = 0.08  # the dip is complete when the sound starts (look-ahead)
    hold_s: float = 0.35  # stays down through short pauses between words
    release_s: float = 0.5  # then comes back this slowly
    target_lufs: float = -14.0
    ceiling_dbtp: float = -1.0
    fade_in_s: float = 0.3
    fade_out_s: float = 2.0
    crossfade_s: float = 0.5  # at each loop join


# ---------------------------------------------------------------------------- beats
def beat_times(music: np.ndarray, rate: int) -> np.ndarray:
    """Beat times (s) of (channels, n) music; empty when librosa finds no pulse."""
    import librosa
    import soxr

    mono = np.ascontiguousarray(music.mean(axis=0), dtype=np.float32)
    if mono.size < rate or not np.any(mono):
        return np.zeros(0)
    y = soxr.resample(mono, rate, BEAT_RATE) if rate != BEAT_RATE else mono
    _, frames = librosa.beat.beat_track(y=y, sr=BEAT_RATE, units="frames")
    return librosa.frames_to_time(np.asarray(frames), sr=BEAT_RATE)


def bar_aligned_start(beats: np.ndarray, start: float, length: float, track_len: float) -> float:
    """A start within a bar of `start` such that the cut, `start + length`, falls on a bar
    line of the beat grid (every fourth beat), so the fade-out ends with a bar of the music;
    `start` itself without a usable grid."""
    if len(beats) < 2 * BEATS_PER_BAR:
        return start
    bar = float(np.median(np.diff(beats))) * BEATS_PER_BAR
    lines = beats[::BEATS_PER_BAR]
    starts = lines - length
    ok = (starts >= 0) & (lines <= track_len) & (np.abs(starts - start) <= bar)
    if not ok.any():
        return start
    return float(starts[ok][np.argmin(np.abs(starts[ok] - start))])


def loop_points(beats: np.ndarray, track_len: float, half_xf: float) -> tuple[float, float]:
    """Where a loop starts and ends (s): bar-aligned beats with room for the crossfade on
    both sides; the whole track (less the crossfade) without a usable beat grid."""
    lo, hi = half_xf, track_len - half_xf
    usable = beats[(beats >= lo) & (beats <= hi)]
    if len(usable) > BEATS_PER_BAR:
        first = usable[0]
        bars = usable[::BEATS_PER_BAR]  # a whole number of bars after the first beat
        if len(bars) >= 2:
            return float(first), float(bars[-1])
    return lo, hi


# ---------------------------------------------------------------------------- length
def _ramp(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Equal-gain (raised-cosine) fade-out and fade-in curves of n samples: they sum to 1,
    so a join of two passes of the same music never rises above either (no bump, no click)."""
    out = (0.5 + 0.5 * np.cos(np.linspace(0.0, np.pi, n))).astype(np.float32)
    return out, (1.0 - out).astype(np.float32)


def loop_to_length(
    music: np.ndarray, rate: int, n_out: int, loop: tuple[float, float], crossfade_s: float
) -> np.ndarray:
    """Play `music` from the top, then repeat [loop start, loop end) until `n_out` samples,
    each join a crossfade centred on the loop's (bar-aligned) points."""
    ls, le = (int(round(t * rate)) for t in loop)
    h = max(1, min(int(round(crossfade_s * rate / 2)), ls, music.shape[1] - le))
    out_curve, in_curve = _ramp(2 * h)
    join = music[:, le - h : le + h] * out_curve + music[:, ls - h : ls + h] * in_curve
    parts = [music[:, : le - h]]
    total = parts[0].shape[1]
    body = music[:, ls + h : le - h]
    while total < n_out:
        parts += [join, body]
        total += join.shape[1] + body.shape[1]
    return np.ascontiguousarray(np.concatenate(parts, axis=1)[:, :n_out], dtype=np.float32)


def fade(planes: np.ndarray, rate: int, fade_in_s: float, fade_out_s: float) -> np.ndarray:
    """Raised-cosine fades at both ends (in place)."""
    n = planes.shape[1]
    k = min(n, int(round(fade_in_s * rate)))
    if k > 1:
        planes[:, :k] *= _ramp(k)[1]
    k = min(n, int(round(fade_out_s * rate)))
    if k > 1:
        planes[:, -k:] *= _ramp(k)[0]
    return planes


# ---------------------------------------------------------------------------- ducking
def duck_gain(original: np.ndarray, rate: int, s: MixSettings) -> np.ndarray:
    """Per-sample gain (linear) for the music: `duck_db` down while the original has
    foreground sound in the speech band, back to 1 between, with look-ahead attack, hold and
    release. Foreground: frames well above the band's own noise floor."""
    from scipy.signal import butter, sosfilt

    n = original.shape[1]
    hop = max(1, rate // 100)  # 10 ms frames
    sos = butter(4, [300.0, 3400.0], btype="band", fs=rate, output="sos")
    band = sosfilt(sos, original.mean(axis=0))
    frames = band[: n // hop * hop].reshape(-1, hop) if n >= hop else band[None, :]
    env = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
    floor, loud = np.percentile(env, 10), np.percentile(env, 98)
    if loud - floor < 10:  # steady sound (or silence): nothing stands out to duck under
        return np.ones(n, np.float32)
    active = env > max(floor + 10, loud - 30)
    # An active frame j holds the dip over [j - attack, j + hold]: look-ahead, then hold.
    attack, hold = max(1, round(s.attack_s * 100)), max(1, round(s.hold_s * 100))
    c = np.concatenate([[0], np.cumsum(active)])
    idx = np.arange(len(active))
    wide = c[np.minimum(len(active), idx + attack + 1)] - c[np.maximum(0, idx - hold)] > 0
    target = np.where(wide, s.duck_db, 0.0)
    down = 1 - np.exp(-1 / max(1.0, s.attack_s * 100 / 3))  # ~3 time constants per attack
    up = 1 - np.exp(-1 / max(1.0, s.release_s * 100 / 3))
    level = np.empty_like(target)
    g = 0.0
    for i, t in enumerate(target):
        g += (t - g) * (down if t < g else up)
        level[i] = g
    centres = (np.arange(len(level)) + 0.5) * hop
    db = np.interp(np.arange(n), centres, level)
    return (10 ** (db / 20)).astype(np.float32)


# ---------------------------------------------------------------------------- loudness
def loudness(planes: np.ndarray, rate: int) -> float:
    """Integrated loudness (LUFS, BS.1770 gated); -inf for silence or under 0.4 s."""
    import pyloudnorm

    if planes.shape[1] < int(0.4 * rate) + 1:
        return float("-inf")
    return float(pyloudnorm.Meter(rate).integrated_loudness(planes.T.astype(np.float64)))


def true_peak(planes: np.ndarray) -> float:
    """Linear true peak: the largest magnitude of the 4x oversampled signal."""
    from scipy.signal import resample_poly

    if planes.size == 0:
        return 0.0
    return float(np.max(np.abs(resample_poly(planes, OVERSAMPLE, 1, axis=1))))


def limit(
    planes: np.ndarray,
    rate: int,
    ceiling: float,
    lookahead_s: float = 0.001,
    release_s: float = 0.001,
) -> np.ndarray:
    """A look-ahead limiter on the true peak. Each sample's gain is the least that any
    peak from `lookahead_s` ahead to `release_s` behind needs (peaks from the 4x oversampled
    signal), then a moving average over the look-ahead: the gain ramps down before a peak
    and never exceeds what a peak needs. Short on purpose: loudness targets push speech
    peaks several dB over the ceiling, and a gain that dips for a millisecond around each
    peak changes far less of the voice than one that holds for tens of milliseconds
    (measured: 0.963 against 0.933 correlation with the original at 80 ms release)."""
    from scipy.ndimage import minimum_filter1d, uniform_filter1d
    from scipy.signal import resample_poly

    n = planes.shape[1]
    over = np.abs(resample_poly(planes, OVERSAMPLE, 1, axis=1)).max(axis=0)
    peak = np.pad(over, (0, max(0, n * OVERSAMPLE - over.size)))[: n * OVERSAMPLE]
    peak = peak.reshape(n, OVERSAMPLE).max(axis=1)
    need = np.minimum(1.0, ceiling / np.maximum(peak, 1e-12))
    if need.min() >= 1.0:
        return planes
    ahead, behind = max(1, int(lookahead_s * rate)), max(1, int(release_s * rate))
    # The window [t - behind, t + ahead]: a centred minimum filter, shifted.
    centred = minimum_filter1d(need, size=ahead + behind + 1, mode="nearest")
    shift = (ahead - behind) // 2
    idx = np.clip(np.arange(n) + shift, 0, n - 1)
    gain = uniform_filter1d(centred[idx], ahead, mode="nearest")
    return (planes * np.minimum(gain, need)[None, :]).astype(np.float32)


def normalise(
    planes: np.ndarray, rate: int, target_lufs: float, ceiling_dbtp: float
) -> tuple[np.ndarray, float]:
    """Gain to `target_lufs`, limited to the ceiling; the limiter lowers the loudness a
    little, so the gain is corrected and the pair repeated until within 0.1 LU.
    Returns the planes and their measured loudness."""
    # A margin under the ceiling for the AAC/Opus encoder's own overshoot.
    ceiling = 10 ** ((ceiling_dbtp - 0.5) / 20)
    measured = loudness(planes, rate)
    if not np.isfinite(measured):
        return planes, measured
    gain_db, out = target_lufs - measured, planes
    for _ in range(6):
        out = limit(planes * np.float32(10 ** (gain_db / 20)), rate, ceiling)
        measured = loudness(out, rate)
        if abs(measured - target_lufs) < 0.1:
            break
        gain_db += target_lufs - measured
    return out, measured


# ---------------------------------------------------------------------------- mix
def mixdown(
    music: np.ndarray, original: np.ndarray | None, rate: int, s: MixSettings
) -> tuple[np.ndarray, dict[str, float]]:
    """The soundtrack before normalisation: music alone (replace) or under the original
    (mix, duck). Both inputs are (channels, n) at `rate`, the same length. Returns the
    planes and the measured figures (the inputs' loudness, the ducked share of the time)."""
    figures: dict[str, float] = {"music_lufs": loudness(music, rate)}
    mix = music
    if s.mode != "replace" and original is not None:
        orig_lufs = loudness(original, rate)
        figures["original_lufs"] = orig_lufs
        if np.isfinite(orig_lufs) and np.isfinite(figures["music_lufs"]):
            gain = 10 ** ((orig_lufs + s.music_db - figures["music_lufs"]) / 20)
            bed = music * np.float32(gain)
            if s.mode == "duck":
                g = duck_gain(original, rate, s)
                figures["ducked_share"] = float(np.mean(g < 10 ** (s.duck_db / 40)))
                bed = bed * g[None, :]
            mix = original + bed
        else:
            mix = original + music
    return np.ascontiguousarray(mix, dtype=np.float32), figures
