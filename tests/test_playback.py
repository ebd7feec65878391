"""Previews: which part of a track is played, decoding it at the device's rate, the
callback that feeds PortAudio, and what happens without a device or without PortAudio.

Where PortAudio and an output device exist, a real `sounddevice.OutputStream` is opened
(wrapped to record its parameters and every buffer the callback fills) and checked
against the decoded section. This machine has no sound card, so there the no-device
path runs for real instead."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import media_factory as mf
import numpy as np
import pytest

from musechat_tui.catalog import TrackRecord
from musechat_tui.encoders import Label
from musechat_tui.engine import VideoFeatures
from musechat_tui.playback import (
    PlaybackUnavailable,
    Player,
    PreviewFeed,
    Section,
    best_section,
    decode_section,
    find_output_device,
    preview_length,
)


def has_output_device() -> bool:
    try:
        import sounddevice as sd

        return bool(sd.query_devices()) and find_output_device(sd) is not None
    except (OSError, ImportError, PlaybackUnavailable):
        return False


DEVICE = has_output_device()


def record(
    loudness: list[float],
    seg_vectors: np.ndarray,
    *,
    duration: float = 90.0,
    path: str = "/music/x.ogg",
    window_start: float = 5.0,
) -> TrackRecord:
    """A track with segments every 10 s from `window_start` and a per-second RMS curve
    whose level in segment i is loudness[i]."""
    curve = np.repeat(np.asarray(loudness, np.float32), 10)
    emb = seg_vectors.mean(axis=0)
    return TrackRecord(
        path=path,
        size=1,
        mtime=0.0,
        content_hash="h",
        duration=duration,
        embedding=emb / np.linalg.norm(emb),
        encoder="test",
        window_start=window_start,
        energy_curve=curve,
        segment_embeddings=seg_vectors.astype(np.float32),
        segment_starts=window_start + 10.0 * np.arange(len(loudness)),
    )


def video(motion: float, brightness: float, duration: float = 20.0) -> VideoFeatures:
    return VideoFeatures(
        path="/v.mp4",
        duration=duration,
        labels=[Label("x", 0.1)],
        brightness=brightness,
        colourfulness=0.2,
        motion=motion,
        description="",
        encoder="e",
        embeddings=np.zeros((1, 4), np.float32),
    )


# ---------------------------------------------------------------------- the section
def test_the_section_follows_the_energy_the_video_asks_for() -> None:
    same = np.ones((3, 8), np.float32)  # equally typical segments: loudness decides
    track = record([0.01, 0.3, 0.05], same)  # about -40, -10, -26 dBFS
    calm = best_section(track, video(motion=0.0, brightness=0.15))  # expects ~ -30 dB
    busy = best_section(track, video(motion=0.3, brightness=0.9))  # expects ~ -14 dB
    assert calm.start == 25.0 and busy.start == 15.0
    assert calm.length == 20.0 and "energy fits the video" in calm.reason


def test_without_a_video_the_most_typical_segment() -> None:
    rng = np.random.default_rng(0)
    base = rng.normal(size=8)
    segs = np.stack([rng.normal(size=8), base + 0.05 * rng.normal(size=8), base])
    segs[2] += 0.01
    track = record([0.1, 0.1, 0.1], np.concatenate([segs[:1], segs[1:]]))
    section = best_section(track, None)
    assert section.start in (15.0, 25.0)  # one of the two that sound like the track
    assert section.length == 30.0 and section.reason == "the most typical part"


def test_the_section_fits_inside_the_track_and_without_segments() -> None:
    track = record([0.1, 0.1, 0.5], np.ones((3, 8)), duration=30.0)
    s = best_section(track, video(0.3, 0.9, duration=20.0))
    assert s.start + s.length <= 30.0  # the loud segment starts at 25: moved to 10
    bare = record([0.1], np.ones((1, 8)), duration=12.0)
    bare.segment_starts, bare.segment_embeddings = None, None
    s = best_section(bare, video(0.0, 0.5, duration=60.0))
    assert (s.start, s.length, s.reason) == (0.0, 12.0, "the analysed middle")
    assert preview_length(5.0) == 15.0 and preview_length(600.0) == 45.0


# ---------------------------------------------------------------------- decoding
@pytest.mark.parametrize("rate", [44_100, 48_000])
def test_decode_section_at_the_device_rate(tmp_path: Path, rate: int) -> None:
    steps = mf.tone_steps([mf.step_freq(i) for i in range(12)], step=1.0, sample_rate=32_000)
    path = mf.write_audio(tmp_path / "steps.flac", steps, 32_000)
    data = decode_section(path, 4.0, 3.0, rate, channels=2)
    assert data.shape == (3 * rate, 2) and data.dtype == np.float32
    assert np.array_equal(data[:, 0], data[:, 1])  # mono source, both channels
    for i in range(3):
        part = data[i * rate + rate // 10 : (i + 1) * rate - rate // 10, 0]
        spectrum = np.abs(np.fft.rfft(part * np.hanning(len(part))))
        f = np.fft.rfftfreq(len(part), 1 / rate)[np.argmax(spectrum)]
        assert abs(f - mf.step_freq(4 + i)) < 3
    mono = decode_section(path, 10.0, 5.0, rate, channels=1)
    assert mono.shape == (2 * rate, 1)  # only 2 s are left after 10 s


def test_the_callback_feeds_the_data_in_order_then_stops() -> None:
    class Stop(Exception):
        pass

    data = np.arange(10, dtype=np.float32).reshape(5, 2)
    feed = PreviewFeed(data, Stop)
    out = np.full((2, 2), -1.0, np.float32)
    feed.callback(out, 2, None, None)
    assert out.tolist() == [[0, 1], [2, 3]] and feed.pos == 2
    feed.callback(out, 2, None, None)
    with pytest.raises(Stop):
        feed.callback(out, 2, None, None)
    assert out.tolist() == [[8, 9], [0, 0]]  # the end, padded with silence


# ---------------------------------------------------------------------- no device, no PortAudio
@pytest.mark.skipif(DEVICE, reason="this machine has an output device")
def test_no_device_is_one_clear_error_for_real() -> None:
    pytest.importorskip("sounddevice")
    player = Player()
    with pytest.raises(PlaybackUnavailable, match="no audio output device was found") as err:
        player.device()
    with pytest.raises(PlaybackUnavailable) as again:  # remembered, not probed again
        player.prepare(record([0.1], np.ones((1, 4))), Section(0.0, 1.0, ""))
    assert again.value is err.value
    assert player.state == "stopped" and player.preview is None
    player.stop()  # harmless


def test_no_portaudio(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # `import sounddevice` fails
    with pytest.raises(PlaybackUnavailable, match="PortAudio library is not installed"):
        Player().device()


def test_a_stream_the_device_refuses() -> None:
    sd = pytest.importorskip("sounddevice")

    def refuse(**kw: Any) -> Any:
        raise sd.PortAudioError("Invalid sample rate")

    player = Player(stream_factory=refuse)
    with pytest.raises(PlaybackUnavailable, match="refused the stream"):
        player.play(1, Section(0, 1, ""), np.zeros((100, 2), np.float32), 48_000)
    assert player.state == "stopped"


# ---------------------------------------------------------------------- a real device
@pytest.mark.skipif(not DEVICE, reason="no audio output device (or no PortAudio) here")
def test_a_real_stream_gets_the_device_rate_and_the_section(tmp_path: Path) -> None:
    import sounddevice as sd

    steps = mf.tone_steps([mf.step_freq(i) for i in range(6)], step=0.5, sample_rate=32_000)
    path = mf.write_audio(tmp_path / "steps.flac", steps, 32_000)
    opened: list[dict[str, Any]] = []
    fed: list[np.ndarray] = []

    def recording_stream(**kw: Any) -> Any:
        inner = kw["callback"]

        def callback(outdata: np.ndarray, frames: int, t: Any, status: Any) -> None:
            try:
                inner(outdata, frames, t, status)
            finally:
                fed.append(outdata.copy())

        opened.append(dict(kw))
        return sd.OutputStream(**{**kw, "callback": callback})

    player = Player(stream_factory=recording_stream)
    device = player.device()
    track = record([0.1], np.ones((1, 4)), duration=3.0, path=str(path), window_start=0.0)
    section = Section(1.0, 1.0, "test")
    data, rate = player.prepare(track, section)
    assert rate == device.samplerate and data.shape == (rate, device.channels)
    player.play(7, section, data, rate)
    deadline = time.monotonic() + 10
    while player.state == "playing" and time.monotonic() < deadline:
        time.sleep(0.05)
    player.stop()
    kw = opened[0]
    assert kw["samplerate"] == device.samplerate and kw["channels"] == device.channels
    assert kw["dtype"] == "float32"
    played = np.concatenate(fed)[: len(data)]
    assert np.array_equal(played, data)
    assert np.array_equal(data, decode_section(path, 1.0, 1.0, rate, device.channels))


ALSA_CONF = Path("/usr/share/alsa/alsa.conf")
REPO = Path(__file__).resolve().parents[1]


def null_device_env(tmp_path: Path) -> dict[str, str]:
    """An ALSA configuration whose default device is ALSA's `null` sink: a real PCM that
    PortAudio opens like a sound card (with its own default rate), the sound going nowhere."""
    import os

    conf = tmp_path / "asound.conf"
    conf.write_text(f"<{ALSA_CONF}>\npcm.!default {{ type null }}\n")
    # The null sink takes samples as fast as they come (no clock): tests must not expect
    # a preview to last in real time there.
    return {**os.environ, "ALSA_CONFIG_PATH": str(conf), "MUSECHAT_TEST_NULL_AUDIO": "1"}


def run_with_null_device(tmp_path: Path, test_id: str, **env: str) -> None:
    import subprocess

    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", test_id],
        cwd=REPO,
        env={**null_device_env(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert "1 passed" in done.stdout, done.stdout[-3000:] + done.stderr[-2000:]


@pytest.mark.skipif(DEVICE or not ALSA_CONF.exists(), reason="a real device, or no ALSA")
def test_a_real_stream_on_the_alsa_null_device(tmp_path: Path) -> None:
    """No sound card here: the real-device test runs against ALSA's null device."""
    run_with_null_device(
        tmp_path, "tests/test_playback.py::test_a_real_stream_gets_the_device_rate_and_the_section"
    )
