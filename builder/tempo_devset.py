"""A tempo dev set with exact tempi: music21 scores given a metronome mark at their beat
level (the time signature's beat: a quarter in 4/4, a dotted quarter in 6/8), rendered
with fluidsynth as the demo library is, plus click tracks with accented downbeats and
softer subdivisions. The truth of each file is in `truth.json`; bench/bench_tempo.py
scores the tempo estimator on it.
"""

from __future__ import annotations

import json
import math
import random
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from builder.demo_library import CORPUS_COMPOSERS, CORPUS_INSTRUMENTS
from builder.render import render_midi
from musechat_tui.errors import MuseChatError
from musechat_tui.media.write import write_audio

SECONDS = 40.0
MIN_SECONDS = 20.0
RATE = 16_000


@dataclass(frozen=True)
class TempoItem:
    file: str
    bpm: float  # beats per minute at the time signature's beat level
    meter: str  # "4/4", "6/8", ...
    source: str  # "score:<corpus path>" or "click"


def render_score(path: str, bpm: float, out: Path, instrument: str | None) -> str:
    """The first ~40 s of a corpus score at `bpm` beats a minute; returns its meter."""
    import copy

    from music21 import corpus, duration, meter, stream, tempo
    from music21 import instrument as m21instrument

    score = corpus.parse(path)
    if isinstance(score, stream.Opus):
        score = score.scores[0]
    ts = next(iter(score.recurse().getElementsByClass(meter.TimeSignature)), None)
    ts = ts or meter.TimeSignature("4/4")
    beat_ql = float(ts.beatDuration.quarterLength)
    bar_seconds = float(ts.barDuration.quarterLength) / beat_ql * 60.0 / bpm
    bars = max(2, math.ceil(SECONDS / bar_seconds))
    for mark in list(score.recurse().getElementsByClass(tempo.TempoIndication)):
        mark.activeSite.remove(mark)
    excerpt = score.measures(1, bars)
    for part in excerpt.parts:
        first = part.getElementsByClass(stream.Measure).first()
        (first or part).insert(
            0, tempo.MetronomeMark(number=bpm, referent=duration.Duration(beat_ql))
        )
        if instrument is not None:
            for old in list(part.recurse().getElementsByClass(m21instrument.Instrument)):
                old.activeSite.remove(old)
            part.insert(0, copy.deepcopy(m21instrument.fromString(instrument)))
    with tempfile.TemporaryDirectory(prefix="musechat-tempo-") as tmp:
        midi = Path(tmp) / "piece.mid"
        excerpt.write("midi", fp=midi)
        render_midi(midi, out, sample_rate=RATE, max_seconds=SECONDS + 20)
    return ts.ratioString


def click_track(bpm: float, beats_per_bar: int, subdivision: int, out: Path) -> None:
    """Clicks on every beat (the downbeat accented) and softer ticks between them."""
    n = int(SECONDS * RATE)
    audio = np.zeros(n, np.float32)
    t = np.arange(int(0.03 * RATE)) / RATE
    click = np.sin(2 * np.pi * 1500 * t) * np.exp(-t * 150)
    tick = np.sin(2 * np.pi * 3000 * t) * np.exp(-t * 300)
    step = 60.0 / bpm / subdivision
    for i in range(int(SECONDS / step)):
        at = int(i * step * RATE)
        if i % subdivision == 0:
            gain = 0.9 if (i // subdivision) % beats_per_bar == 0 else 0.6
            sound = gain * click
        else:
            sound = 0.25 * tick
        end = min(n, at + len(sound))
        audio[at:end] += sound[: end - at]
    write_audio(out, np.clip(audio, -1, 1), RATE)


def build_devset(
    folder: Path, scores: int = 40, clicks: int = 12, seed: int = 0
) -> list[TempoItem]:
    """Renders the set into `folder` (kept between runs: a rendered file is not redone)."""
    from music21 import corpus

    folder.mkdir(parents=True, exist_ok=True)
    truth_file = folder / "truth.json"
    if truth_file.is_file():
        items = [TempoItem(**d) for d in json.loads(truth_file.read_text())]
        if len(items) == scores + clicks and all((folder / i.file).is_file() for i in items):
            return items
    rng = random.Random(seed)
    works = [
        str(p)
        for composer in CORPUS_COMPOSERS
        for p in sorted(corpus.getComposer(composer))
        if Path(p).suffix != ".txt"
    ]
    rng.shuffle(works)
    items: list[TempoItem] = []
    for path in works:
        if sum(i.source != "click" for i in items) >= scores:
            break
        bpm = round(rng.uniform(55, 175), 1)
        name = f"score_{len(items):03d}.wav"
        instrument = rng.choice(CORPUS_INSTRUMENTS)
        try:
            meter_text = render_score(path, bpm, folder / name, instrument)
        except (MuseChatError, Exception):  # noqa: BLE001 - a score music21 cannot cut or render
            continue
        if (folder / name).stat().st_size < MIN_SECONDS * RATE * 4:  # 16-bit stereo WAV
            (folder / name).unlink()  # a short work: too little to hear a tempo in
            continue
        items.append(TempoItem(name, bpm, meter_text, f"score:{Path(path).name}"))
    for i in range(clicks):
        bpm = round(rng.uniform(60, 180), 1)
        beats, sub = rng.choice([(4, 2), (3, 2), (4, 4), (4, 1), (2, 3)])
        name = f"click_{i:03d}.wav"
        click_track(bpm, beats, sub, folder / name)
        items.append(TempoItem(name, bpm, f"{beats}/4", "click"))
    truth_file.write_text(json.dumps([asdict(i) for i in items], indent=1))
    return items
