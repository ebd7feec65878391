"""The now-playing bar: the selected (or playing) track, the preview position, and a
sparkline of the track's energy (the catalog's per-second RMS curve) with the preview
section and the play head marked."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Static

from musechat_tui.clock import clock
from musechat_tui.sanitize import clean

if TYPE_CHECKING:
    import numpy as np

    from musechat_tui.catalog import TrackRecord
    from musechat_tui.engine import Recommendation
    from musechat_tui.playback import Section

BARS = " ▁▂▃▄▅▆▇█"


def sparkline(
    curve: np.ndarray | None,
    width: int,
    duration: float,
    offset: float = 0.0,
    section: tuple[float, float] | None = None,
    position: float | None = None,
) -> Text:
    """`curve` (one value per second from `offset`) over a `duration`-second track in
    `width` cells; the section is highlighted and the play head shown in reverse video.
    Seconds outside the analysed window are drawn as a dim dot."""
    text = Text(no_wrap=True, overflow="crop")
    if width <= 0 or duration <= 0:
        return text
    import numpy as np  # lazily: not needed for the first screen

    values = np.asarray(curve if curve is not None else [], dtype=np.float64)
    top = float(values.max()) if len(values) else 0.0
    head = int(position / duration * width) if position is not None else -1
    for x in range(width):
        t0, t1 = x / width * duration, (x + 1) / width * duration
        a, b = int(t0 - offset), max(int(t0 - offset) + 1, int(np.ceil(t1 - offset)))
        part = values[max(0, a) : max(0, b)] if b > 0 else values[:0]
        if len(part) and top > 0:
            level = float(part.max()) / top
            ch = BARS[max(1, int(round(level * (len(BARS) - 1))))]
            style = "green"
        else:
            ch, style = "·", "dim"
        if section is not None and section[0] <= (t0 + t1) / 2 < section[0] + section[1]:
            style = "bold cyan"
        if x == head:
            style = "reverse bold"
        text.append(ch, style=style)
    return text


class EnergyLine(Widget):
    DEFAULT_CSS = "EnergyLine { height: 1; width: 1fr; }"

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.curve: np.ndarray | None = None
        self.duration = 0.0
        self.curve_start = 0.0
        self.section: tuple[float, float] | None = None
        self.position: float | None = None

    def set_track(self, record: TrackRecord | None, section: Section | None) -> None:
        if record is None:
            self.curve, self.duration, self.section = None, 0.0, None
        else:
            self.curve = record.energy_curve
            self.duration = float(record.duration)
            self.curve_start = float(record.window_start)
            self.section = (section.start, section.length) if section else None
        self.position = None
        self.refresh()

    def set_position(self, position: float | None) -> None:
        self.position = position
        self.refresh()

    def render(self) -> Text:
        return sparkline(
            self.curve,
            self.content_size.width,
            self.duration,
            self.curve_start,
            self.section,
            self.position,
        )


class NowPlaying(Horizontal):
    def compose(self) -> Any:
        yield Static(Text("space: preview the selected track", style="dim"), id="np-label")
        yield EnergyLine(id="np-energy")

    def show(
        self,
        rec: Recommendation | None,
        state: str = "stopped",
        position: float | None = None,
        section: Section | None = None,
        message: str | None = None,
    ) -> None:
        label = Text(no_wrap=True, overflow="ellipsis")
        icon = {"playing": "▶ ", "paused": "⏸ ", "loading": "… "}.get(state, "■ ")
        label.append(icon, style="bold cyan" if state == "playing" else "bold")
        if rec is None:
            label.append("no track selected", style="dim")
        else:
            label.append(clean(rec.title, limit=40), style="bold")
            if rec.artist:
                label.append(f" — {clean(rec.artist, limit=30)}")
            if position is not None:
                label.append(f"  {clock(position)} / {clock(rec.duration)}")
            elif section is not None:
                label.append(f"  preview from {clock(section.start)}", style="dim")
        if message:
            label.append(f"  {clean(message)}", style="yellow")
        self.query_one("#np-label", Static).update(label)
        self.query_one(EnergyLine).set_position(position)

    def set_track(self, record: TrackRecord | None, section: Section | None) -> None:
        self.query_one(EnergyLine).set_track(record, section)
