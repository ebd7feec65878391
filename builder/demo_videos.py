"""Demo videos made from real photos (scikit-image's sample data): slideshows with slow
pans and zooms, the kind of footage a creator sets music to. Debian ships no sample
videos, so the demo makes its own with PyAV."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np


@dataclass(frozen=True)
class DemoVideo:
    name: str
    photos: tuple[str, ...]  # skimage.data function names, or image file paths
    seconds_per_photo: float
    zoom: float  # how far each shot pushes in (1.0 = static)


DEMO_VIDEOS = (
    DemoVideo("cosy_morning", ("chelsea", "coffee", "chelsea"), 6.0, 1.15),
    DemoVideo("space_launch", ("rocket", "astronaut", "hubble_deep_field", "rocket"), 3.0, 1.5),
)


def _photo(name: str) -> np.ndarray:
    if "/" in name:  # an image file (PNG, JPEG, WebP ...)
        from PIL import Image

        with Image.open(name) as im:
            return np.asarray(im.convert("RGB"))
    import skimage.data

    image = getattr(skimage.data, name)()
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    return np.ascontiguousarray(image[..., :3]).astype(np.uint8)


def _crop_box(
    shape: tuple[int, ...], aspect: float, zoom: float, drift: float
) -> tuple[int, int, int, int]:
    """A crop of the photo with the output's aspect, `zoom` times tighter than the
    largest one, slid by `drift` (-1..1) along the long axis."""
    h, w = shape[:2]
    ch, cw = (h, int(h * aspect)) if w / h > aspect else (int(w / aspect), w)
    ch, cw = int(ch / zoom), int(cw / zoom)
    y = (h - ch) // 2
    x = int((w - cw) / 2 * (1 + drift))
    return y, x, ch, cw


def write_slideshow(
    video: DemoVideo, out: Path, size: tuple[int, int] = (640, 360), fps: int = 24
) -> Path:
    """Write `video` as H.264 mp4 at `out` (through a temp file, so a crash leaves no half file)."""
    width, height = size
    tmp = out.with_suffix(".part.mp4")
    with av.open(str(tmp), "w") as container:
        container.metadata["title"] = video.name.replace("_", " ")
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        n = int(video.seconds_per_photo * fps)
        for shot, name in enumerate(video.photos):
            image = _photo(name)
            direction = 1 if shot % 2 == 0 else -1
            for i in range(n):
                t = i / max(1, n - 1)
                zoom = 1.0 + (video.zoom - 1.0) * t
                y, x, ch, cw = _crop_box(
                    image.shape, width / height, zoom, direction * (t - 0.5) * 0.6
                )
                frame = av.VideoFrame.from_ndarray(
                    np.ascontiguousarray(image[y : y + ch, x : x + cw]), format="rgb24"
                )
                for packet in stream.encode(
                    frame.reformat(width=width, height=height, format="yuv420p")
                ):
                    container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    tmp.replace(out)
    return out
