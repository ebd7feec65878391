"""Foundation benchmark: how fast MuseChat reads media and turns it into features.

On a real 3-minute track (Debian's drascula-music, track1.ogg, 182 s) and a real 2-minute
720p video (a slideshow of real photos with pans and zooms, made here with PyAV):
- audio decode to 16 kHz mono (x real time);
- musicnn MTT+MSD (ONNX) on the paper's central 120 s in twelve 10 s segments (x real time);
- video frames decoded at the default fps (frames/s and x real time) against decoding every
  frame, the decode-only limit;
- the image encoder's frames/s.
Each figure is the best of `--repeat` runs in one process (timings here are noisy).

    .venv/bin/python bench/bench_foundation.py [--track PATH] [--repeat 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np

from builder.demo_videos import DemoVideo, write_slideshow
from musechat_tui.config import load_settings
from musechat_tui.encoders import build_audio_encoder, build_image_encoder
from musechat_tui.media import load_audio, load_central_window, probe, sample_frames, split_segments

DEFAULT_TRACK = Path("/usr/share/scummvm/drascula/audio/track1.ogg")
BENCH_VIDEO = DemoVideo("bench_720p", ("rocket", "astronaut", "coffee", "chelsea") * 2, 15.0, 1.3)


def best_of(repeat: int, fn: Callable[[], object]) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def decode_every_frame(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--track", type=Path, default=DEFAULT_TRACK, help="a real track of about 3 minutes"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; the best is kept")
    args = parser.parse_args()
    settings = load_settings()
    rows: list[tuple[str, str]] = []

    duration = probe(args.track).duration
    t, samples = best_of(args.repeat, lambda: load_audio(args.track))
    rows.append(
        (f"audio decode, {duration:.0f} s ogg -> 16 kHz mono", f"{duration / t:.0f}x real time")
    )

    encoder = build_audio_encoder(settings)
    clip = load_central_window(args.track, window=settings.window_seconds)
    segments = split_segments(clip.samples, 16_000, settings.segment_seconds, settings.max_segments)
    encoder.encode(segments[:1])  # warm-up: sessions and mel filters
    t, _ = best_of(args.repeat, lambda: encoder.encode(segments))
    audio_s = sum(len(s) for s in segments) / 16_000
    rows.append(
        (f"musicnn MTT+MSD, {len(segments)} x 10 s segments", f"{audio_s / t:.0f}x real time")
    )

    with tempfile.TemporaryDirectory() as tmp:
        video = write_slideshow(BENCH_VIDEO, Path(tmp) / "bench_720p.mp4", size=(1280, 720), fps=30)
        vdur = probe(video).duration
        t_all, n_all = best_of(1, lambda: decode_every_frame(video))
        rows.append(
            (
                f"video decode, every frame ({vdur:.0f} s 720p H.264)",
                f"{n_all / t_all:.0f} frames/s, {vdur / t_all:.1f}x real time",
            )
        )
        frames = None
        for fps in sorted({0.5, 1.0, 2.0, 5.0, settings.fps}):
            t, frames_fps = best_of(
                args.repeat, lambda fps=fps: list(sample_frames(video, fps=fps, size=256))
            )
            label = " (default)" if fps == settings.fps else ""
            rows.append(
                (
                    f"video frames at {fps:g} fps{label}",
                    f"{len(frames_fps) / t:.0f} frames/s, {vdur / t:.0f}x real time",
                )
            )
            if fps == settings.fps:
                frames = frames_fps

    image_encoder = build_image_encoder(settings)
    images = np.stack([f.image for f in frames])
    image_encoder.encode(images[:2])
    t, _ = best_of(args.repeat, lambda: image_encoder.encode(images))
    rows.append(
        (
            f"image encoder {image_encoder.id}, batch {settings.batch_size}",
            f"{len(images) / t:.0f} frames/s",
        )
    )

    print(f"| step | speed ({settings.threads} threads) |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
