"""Export benchmark: is the exported video finished work? Measured on decoded exports.

A 60 s "vlog" (a picture, and as its own sound three spoken passages from espeak-ng over a
quiet room tone) with real music under it (music21 works rendered with fluidsynth: one
longer than the video, one of 20 s that must loop). For each mode: integrated loudness
(BS.1770, pyloudnorm) and true peak of the decoded file, the music's level in the speech
against between it (read from a faint 12 kHz pilot tone mixed into the music, where
espeak-ng's 22 kHz voice has no energy, so the voice cannot mask the reading), how much the voice
survives (correlation with the original in the passages), coverage of the video's length,
and the export time against the video's length. `--before REV` runs the same on the
export module of an earlier revision (git show REV:musechat_tui/export.py).

    nice .venv/bin/python bench/bench_export.py [--before 97d82d4]
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import media_factory as mf  # noqa: E402

from builder.render import render_corpus_piece  # noqa: E402
from musechat_tui.export.mixdown import loudness, true_peak  # noqa: E402
from musechat_tui.playback import decode_section  # noqa: E402

R = 48_000
PILOT_HZ = 12_000.0
WORDS = (
    "Good morning from the harbour. We got here just before sunrise, and the boats are "
    "heading out already. Look at that light on the water."
)


def vlog(folder: Path, seconds: float = 60.0) -> tuple[Path, list[tuple[float, float]]]:
    import soundfile as sf

    wav = folder / "voice.wav"
    subprocess.run(["espeak-ng", "-s", "150", "-w", str(wav), WORDS], check=True)
    voice, rate = sf.read(wav, dtype="float32")
    voice *= 0.4 / np.abs(voice).max()
    sound = np.random.default_rng(0).normal(0, 3e-4, int(seconds * rate)).astype(np.float32)
    bursts = []
    for at in (3.0, 24.0, 45.0):
        i = int(at * rate)
        n = min(len(voice), len(sound) - i)
        sound[i : i + n] += voice[:n]
        bursts.append((at, at + n / rate))
    video = mf.make_video(folder / "vlog.mp4", seconds, fps=10, audio=sound, sample_rate=rate)
    return video, bursts


def pilot_db(x: np.ndarray) -> float:
    """Level of the music's 12 kHz pilot tone in `x` (its windowed spectral peak)."""
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x)))) / len(x)
    k = int(round(PILOT_HZ * len(x) / R))
    return float(20 * np.log10(spectrum[k - 3 : k + 4].max() + 1e-12))


def with_pilot(path: Path, out: Path) -> Path:
    import soundfile as sf

    music = sf.read(path, dtype="float32", always_2d=True)[0].T
    music = np.repeat(music, 2, axis=0) if music.shape[0] == 1 else music
    t = np.arange(music.shape[1]) / 44100
    music = music * 0.9 + 0.01 * np.sin(2 * np.pi * PILOT_HZ * t)[None, :].astype(np.float32)
    return mf.write_audio(out, music.astype(np.float32), 44100)


def measure(out: Path, video: Path, bursts: list[tuple[float, float]], secs: float) -> dict:
    decoded = decode_section(out, 0.0, secs, R, 2).T
    got = np.zeros((2, int(secs * R)), np.float32)  # an export whose music ends early
    got[:, : decoded.shape[1]] = decoded[:, : got.shape[1]]
    src = decode_section(video, 0.0, secs, R, 2).T[0]
    mono = got[0]
    inside = np.mean([pilot_db(mono[int((a + 0.3) * R) : int((b - 0.3) * R)]) for a, b in bursts])
    gaps = [(bursts[i][1] + 1.5, bursts[i + 1][0] - 0.5) for i in range(len(bursts) - 1)]
    between = np.mean([pilot_db(mono[int(a * R) : int(b * R)]) for a, b in gaps])
    corr = []
    for a, b in bursts:
        i, j = int(a * R), int(b * R)
        lag = max(range(-480, 481, 4), key=lambda k: float(np.dot(mono[i + k : j + k], src[i:j])))
        corr.append(float(np.corrcoef(mono[i + lag : j + lag], src[i:j])[0, 1]))
    win = mono[R : int((secs - 2.5) * R)]
    win = win[: len(win) // 2400 * 2400].reshape(-1, 2400)
    levels = np.sqrt(np.mean(win**2, axis=1))
    return {
        "lufs": loudness(got, R),
        "tp": 20 * np.log10(max(true_peak(got), 1e-12)),
        "duck_db": between - inside,
        "voice_corr": min(corr),
        "silent_50ms": int(np.sum(levels < 1e-3)),
        "covered_s": decoded.shape[1] / R,
    }


def load_export(rev: str | None) -> Any:
    if rev is None:
        from musechat_tui import export

        return export
    code = subprocess.run(
        ["git", "show", f"{rev}:musechat_tui/export.py"], capture_output=True, text=True, check=True
    ).stdout
    path = Path(tempfile.mkdtemp()) / "old_export.py"
    path.write_text(code)
    spec = importlib.util.spec_from_file_location("old_export", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["old_export"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", help="a revision whose musechat_tui/export.py to compare")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_export_"))
    video, bursts = vlog(work)
    rag = render_corpus_piece("joplin/maple_leaf_rag", work / "rag.wav", 44100, instrument="piano")
    long = with_pilot(rag, work / "rag.flac")
    short = mf.write_audio(
        work / "short20.flac", decode_section(long, 10.0, 20.0, 44100, 2).T, 44100
    )
    rows = []
    runs = [("after", None)] + ([("before", args.before)] if args.before else [])
    for label, rev in runs:
        export = load_export(rev)
        modes = ["replace", "mix", "duck"] if rev is None else ["replace"]
        for track, name in ((long, "3-min piano rag"), (short, "20 s loop")):
            for mode in modes:
                out = work / f"{label}-{mode}-{track.stem}.mp4"
                kw = {"mode": mode} if rev is None else {}
                t0 = time.perf_counter()
                export.export_video(video, track, out, start=30.0, overwrite=True, **kw)
                took = time.perf_counter() - t0
                m = measure(out, video, bursts, 60.0)
                rows.append((label, mode, name, m, took))
    print(
        "| code | mode | music | LUFS | true peak dBTP | music dip in speech (dB) | "
        "voice kept (corr.) | silent 50 ms windows | export time / video length |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for label, mode, name, m, took in rows:
        print(
            f"| {label} | {mode} | {name} | {m['lufs']:.1f} | {m['tp']:.1f} | "
            f"{m['duck_db']:.1f} | {m['voice_corr']:.3f} | {m['silent_50ms']} | "
            f"{took / 60.0:.3f} |"
        )


if __name__ == "__main__":
    main()
