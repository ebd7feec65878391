"""Scene-to-music pairs chosen by people, from a SuperTux data folder (Debian's
`supertux-data`): every level sector names its music and its background images, and the
game's designers chose both. `bench/bench_pairs.py` turns each distinct (background,
music) pair into a short scene video and asks the engine for music: does the video steer
the pick towards the designers' track?

Level files are S-expressions (`(supertux-level (sector (music (file "/music/x.music"))
(background (image-top "...") (image "...") ...)))`); a `.music` file names the .ogg it
plays. Older levels write `(music "x.ogg")` directly.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_ROOT = Path("/usr/share/games/supertux2")
IMAGE_KEYS = ("image-top", "image", "image-bottom")  # a background layer, top to bottom

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScenePair:
    """One designer choice: the background layers (farthest first, each top to bottom)
    and the .ogg the sector plays."""

    backgrounds: tuple[tuple[Path, ...], ...]
    music: Path
    level: str  # where it was seen first ("world1/crystal_mine.stl: main")
    # the sky behind the layers: (top, bottom) RGB 0..1 of the sector's gradient
    gradient: tuple[tuple[float, ...], tuple[float, ...]] | None = None
    in_front: tuple[bool, ...] = ()  # per layer: drawn in front of the level (fog), z-pos > 0


def _sym(x: Any) -> str | None:
    import sexpdata

    return x.value() if isinstance(x, sexpdata.Symbol) else None


def _walk(node: Any, head: str) -> Iterator[list[Any]]:
    """Every list in `node` whose first element is the symbol `head`."""
    if isinstance(node, list):
        if node and _sym(node[0]) == head:
            yield node
        for child in node:
            yield from _walk(child, head)


def _field(node: list[Any], key: str) -> Any:
    for child in node[1:]:
        if isinstance(child, list) and child and _sym(child[0]) == key and len(child) > 1:
            return child[1]
    return None


def _data_path(root: Path, name: str, relative_to: Path | None = None) -> Path:
    name = name.lstrip("/")
    if relative_to is not None and not name.startswith(("music/", "images/")):
        return relative_to / name
    return root / name


def resolve_music(root: Path, name: str) -> Path | None:
    """The .ogg a level's music entry plays (a `.music` file names it), None if missing."""
    import sexpdata

    path = _data_path(root, name)
    if path.suffix == ".music":
        try:
            tree = sexpdata.loads(path.read_text(encoding="utf-8", errors="replace"))
        except (OSError, ValueError, AssertionError, sexpdata.ExpectClosingBracket):
            return None
        file = _field(tree, "file") if isinstance(tree, list) else None
        if not isinstance(file, str):
            return None
        path = _data_path(root, file, relative_to=path.parent)
    return path if path.is_file() else None


def sector_pairs(root: Path = DEFAULT_ROOT) -> list[ScenePair]:
    """The distinct (backgrounds, music) pairs of every level sector under `root/levels`,
    in a stable order. Sectors without music or without a background image are skipped."""
    import sexpdata

    seen: dict[tuple[tuple[tuple[Path, ...], ...], Path], ScenePair] = {}
    # Newer releases moved images into subfolders; the game still finds them by name.
    by_name = {p.name: p for p in sorted((root / "images").rglob("*")) if p.is_file()}
    for level in sorted((root / "levels").rglob("*.stl")):
        try:
            tree = sexpdata.loads(level.read_text(encoding="utf-8", errors="replace"))
        except (ValueError, AssertionError, sexpdata.ExpectClosingBracket) as exc:
            log.info("%s: not read (%s)", level, exc)
            continue
        for sector in _walk(tree, "sector"):
            music_entry = _field(sector, "music")
            if isinstance(music_entry, list):  # (music (file "..."))
                music_entry = music_entry[1] if _sym(music_entry[0]) == "file" else None
            if not isinstance(music_entry, str):
                continue
            music = resolve_music(root, music_entry)
            layers = []
            for bg in _walk(sector, "background"):
                images = []
                for key in IMAGE_KEYS:
                    name = _field(bg, key)
                    if isinstance(name, str) and (p := _find_image(root, name, by_name)):
                        images.append(p)
                if images:
                    z = _field(bg, "z-pos")
                    layers.append((z if isinstance(z, int | float) else -300, images))
            if music is None or not layers:
                continue
            # drawn in z order, farthest first (the game's default background z is -300)
            layers.sort(key=lambda zl: zl[0])
            in_front = [z > 0 for z, _ in layers]
            layers = [tuple(dict.fromkeys(images)) for _, images in layers]
            key = (tuple(layers), music)
            name = _field(sector, "name")
            where = (
                f"{level.relative_to(root / 'levels')}: {name if isinstance(name, str) else '?'}"
            )
            pair = ScenePair(key[0], music, where, _gradient(sector), tuple(in_front))
            seen.setdefault(key, pair)
    return list(seen.values())


def _find_image(root: Path, name: str, by_name: dict[str, Path]) -> Path | None:
    path = _data_path(root, name)
    return path if path.is_file() else by_name.get(path.name)


def _gradient(sector: list[Any]) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    for g in _walk(sector, "gradient"):
        colours = []
        for key in ("top_color", "bottom_color"):
            for child in g[1:]:
                if isinstance(child, list) and child and _sym(child[0]) == key:
                    colours.append(tuple(float(c) for c in child[1:4]))
        if len(colours) == 2:
            return colours[0], colours[1]
    return None


def compose_background(pair: ScenePair, height: int = 360, width: int = 1600) -> np.ndarray:
    """The sector's backdrop as the game draws it, simplified: each layer's images stacked
    top to bottom, scaled to the frame height, tiled across `width`, and alpha-composited
    over the layers behind it. (height, width, 3) uint8 RGB."""
    from PIL import Image

    canvas = Image.new("RGBA", (width, height), (0, 0, 0, 255))
    if pair.gradient is not None:
        top, bottom = (np.clip(np.array(c[:3]), 0, 1) * 255 for c in pair.gradient)
        ramp = np.linspace(0, 1, height)[:, None, None]
        sky = (top * (1 - ramp) + bottom * ramp).astype(np.uint8).repeat(width, axis=1)
        canvas = Image.fromarray(sky, "RGB").convert("RGBA")
    for i, layer in enumerate(pair.backgrounds):
        parts = [Image.open(p).convert("RGBA") for p in layer]
        strip_w = max(p.width for p in parts)
        strip = Image.new("RGBA", (strip_w, sum(p.height for p in parts)), (0, 0, 0, 0))
        y = 0
        for p in parts:
            strip.paste(p, (0, y))
            y += p.height
        scale = height / strip.height
        strip = strip.resize((max(1, round(strip_w * scale)), height), Image.Resampling.BILINEAR)
        if i < len(pair.in_front) and pair.in_front[i]:  # fog and the like: a veil, not a wall
            strip.putalpha(strip.getchannel("A").point(lambda a: a // 2))
        for x in range(0, width, strip.width):
            canvas.alpha_composite(strip, (x, 0))
    return np.asarray(canvas.convert("RGB"))


def pan_frames(
    backdrop: np.ndarray, width: int = 640, seconds: float = 8.0, fps: int = 12
) -> Iterator[np.ndarray]:
    """A slow left-to-right pan across `backdrop` (the camera following the player)."""
    n = max(1, round(seconds * fps))
    span = max(0, backdrop.shape[1] - width)
    for i in range(n):
        x = round(span * i / max(1, n - 1))
        yield np.ascontiguousarray(backdrop[:, x : x + width])
