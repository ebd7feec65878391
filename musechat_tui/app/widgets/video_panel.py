"""The video: name, duration, resolution, what the image model sees, and keyframe
thumbnails drawn with half blocks (▀: the top pixel is the foreground colour, the bottom
pixel the background colour, so one cell shows two square-ish pixels)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.containers import Vertical
from textual.geometry import Size
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Static

from musechat_tui.clock import clock
from musechat_tui.sanitize import clean

if TYPE_CHECKING:
    import numpy as np

    from musechat_tui.analysis import VideoAnalysis
    from musechat_tui.media.probe import MediaInfo

MIN_THUMB_COLS = 12
GAP = 1


def shrink(image: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Area-average `image` (H, W, 3) down to (rows, cols, 3) uint8 (nearest when larger)."""
    import numpy as np  # lazily: not needed for the first screen

    img = np.asarray(image, dtype=np.float32)[..., :3]
    h, w = img.shape[:2]
    if rows > h or cols > w:
        yi = np.linspace(0, h - 1, rows).round().astype(int)
        xi = np.linspace(0, w - 1, cols).round().astype(int)
        return img[yi][:, xi].astype(np.uint8)
    ys = np.linspace(0, h, rows + 1).astype(int)
    xs = np.linspace(0, w, cols + 1).astype(int)
    acc = np.add.reduceat(np.add.reduceat(img, ys[:-1], axis=0), xs[:-1], axis=1)
    area = np.outer(np.diff(ys), np.diff(xs))[..., None]
    return np.clip(acc / area, 0, 255).astype(np.uint8)


def half_block_rows(image: np.ndarray) -> list[list[Segment]]:
    """Segments for an (2R, C, 3) image: R rows of C '▀' cells."""
    import numpy as np  # lazily: not needed for the first screen

    if image.shape[0] % 2:
        image = np.concatenate([image, image[-1:]], axis=0)
    out = []
    for top, bottom in zip(image[0::2], image[1::2], strict=True):
        row = [
            Segment("▀", Style.from_color(_rgb(t), _rgb(b)))
            for t, b in zip(top, bottom, strict=True)
        ]
        out.append(row)
    return out


def _rgb(px: np.ndarray) -> Any:
    from rich.color import Color

    return Color.from_rgb(int(px[0]), int(px[1]), int(px[2]))


class ThumbStrip(Widget):
    """Keyframes in a grid that fits the width: as many per row as keep each at least
    MIN_THUMB_COLS wide, in the video's aspect ratio."""

    DEFAULT_CSS = "ThumbStrip { height: auto; }"

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.images: list[np.ndarray] = []
        self.aspect = 16 / 9
        self._lines: list[Strip] = []
        self._built_for = -1

    def set_images(self, images: list[np.ndarray], aspect: float | None = None) -> None:
        import numpy as np  # lazily: not needed for the first screen

        self.images = [np.asarray(i) for i in images if i is not None and np.size(i)]
        if aspect:
            self.aspect = aspect
        elif self.images:
            h, w = self.images[0].shape[:2]
            self.aspect = w / max(1, h)
        self._built_for = -1
        self.refresh(layout=True)

    def _layout(self, width: int) -> tuple[int, int, int]:
        """(thumbs per row, columns per thumb, text rows per thumb)."""
        n = len(self.images)
        per_row = max(1, min(n, (width + GAP) // (MIN_THUMB_COLS + GAP)))
        cols = max(2, (width - GAP * (per_row - 1)) // per_row)
        rows = max(1, round(cols / self.aspect / 2))
        return per_row, cols, rows

    def _build(self, width: int) -> None:
        self._lines = []
        if not self.images or width <= 0:
            self._built_for = width
            return
        per_row, cols, rows = self._layout(width)
        cells = [half_block_rows(shrink(img, rows * 2, cols)) for img in self.images]
        for start in range(0, len(cells), per_row):
            group = cells[start : start + per_row]
            if start:
                self._lines.append(Strip.blank(width))
            for r in range(rows):
                segs: list[Segment] = []
                for j, thumb in enumerate(group):
                    if j:
                        segs.append(Segment(" " * GAP))
                    segs.extend(thumb[r])
                self._lines.append(Strip(segs).adjust_cell_length(width))
        self._built_for = width

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        if not self.images:
            return 0
        per_row, _, rows = self._layout(width)
        groups = -(-len(self.images) // per_row)
        return groups * rows + (groups - 1)

    def render_line(self, y: int) -> Strip:
        width = self.content_size.width
        if self._built_for != width:
            self._build(width)
        return self._lines[y] if 0 <= y < len(self._lines) else Strip.blank(width)


class VideoPanel(Vertical):
    """Name · duration · resolution; thumbnails; what the video looks like to MuseChat."""

    def compose(self) -> Any:
        yield Static(Text("no video yet", style="dim"), id="video-name")
        yield Static("", id="video-facts")
        yield ThumbStrip(id="thumbs")
        yield Static("", id="video-status")

    def set_path(self, path: str) -> None:
        from pathlib import Path

        self.query_one("#video-name", Static).update(
            Text(clean(Path(path).name, limit=80), style="bold")
        )

    def set_info(self, info: MediaInfo) -> None:
        self.set_path(str(info.path))
        v = info.video_stream
        facts = [clock(info.duration)]
        if v is not None and v.width and v.height:
            facts.append(f"{v.width}×{v.height}")
        if v is not None and v.fps:
            facts.append(f"{v.fps:.3g} fps")
        facts.append("with sound" if info.audio_stream is not None else "silent")
        self.query_one("#video-facts", Static).update(Text(" · ".join(facts)))

    def set_status(self, text: str, kind: str = "") -> None:
        status = self.query_one("#video-status", Static)
        status.update(Text(clean(text, keep_newlines=True)))
        status.set_classes(kind)

    def set_analysis(self, analysis: VideoAnalysis) -> None:
        self.set_info(analysis.info)
        self.set_thumbnails(analysis.thumbnails, analysis.info)
        self.set_status(analysis.describe())

    def set_thumbnails(self, images: list[np.ndarray], info: MediaInfo | None = None) -> None:
        aspect = None
        v = info.video_stream if info is not None else None
        if v is not None and v.width and v.height:
            aspect = v.width / v.height
        self.query_one(ThumbStrip).set_images(images, aspect)

    def set_error(self, message: str) -> None:
        self.set_status(message, "error")
