"""Which frames of a video to analyse: a budget driven by its shots, not a fixed rate.

Decoding is the cost of the first answer. H.264 and its kin decode forward from a
keyframe, so a fixed rate of one frame a second decodes nearly every frame of the video
(3,600 for two minutes at 30 fps), while a frame just after each keyframe costs a handful.
Encoders start a keyframe at each scene cut (x264's scenecut, and every encoder with
scene detection) and at a fixed interval, so the keyframes are the shots' starts, plus
refreshes within long shots. The plan for a video longer than `GRID_SECONDS`:

- one anchor frame per keyframe, ANCHOR_DELAY in (past the cut's first frame, which the
  index names by its decode time);
- no gap longer than MAX_GAP without one (a long GOP or a container whose index is sparse:
  extra anchors spread across the gap);
- at most `per_minute` anchors a minute (the first in each equal stretch of time), never
  more than `max_frames` frames in all;
- MAX_PAIRS anchors at most, spread evenly over the video, with a partner MOTION_GAP
  later, before the next keyframe (a cut may start there; keyframes under 2 s apart are
  the encoder's interval, not cuts): motion is the mean change between the two, one second
  apart inside a shot. A partner costs a second of decoding (all the reference frames up
  to it): on a 2-minute clip with 37 shots, partners for all took 3.8 s of decoding, for
  12 of them 2.2 s, and the motion measured from 12 was within 2 % of that from all.

What the frames measure changes a little with the plan: motion leaves the cuts out (the
fixed rate's consecutive frames include them), and the cut rate counts at most one cut
per anchor (a long video's budget of 24 a minute, fewer when `max_video_frames` binds).

Short videos, and files whose container lists no keyframes, keep the fixed rate: their
decode is cheap, or the shots are unknown. Motion pairs are then consecutive frames.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np

PLAN_VERSION = 2  # part of the analysis cache's key: change it when the rules change
# 2: motion partners for MAX_PAIRS anchors, not all
GRID_SECONDS = 30.0  # shorter videos: the fixed rate (decoding all of it is cheap)
ANCHOR_DELAY = 0.2  # seconds after a keyframe's index time
MOTION_GAP = 1.0  # seconds between an anchor and its partner
MAX_GAP = 10.0  # seconds without an anchor at most
PER_MINUTE = 24  # anchors a minute at most
MIN_ANCHORS = 8
MAX_PAIRS = 12  # motion partners at most (their mean is what counts)


@dataclass(frozen=True)
class FramePlan:
    times: list[float]  # ascending sampling times (s)
    pairs: list[tuple[int, int]]  # indices into times, MOTION_GAP apart: motion is read there
    kind: str  # "shots" | "rate"


def rate_plan(duration: float | None, fps: float, max_frames: int) -> FramePlan:
    """`fps` frames a second (lowered so at most `max_frames` fit), consecutive pairs."""
    if duration and duration * fps > max_frames:
        fps = max_frames / duration
    n = max_frames if not duration else max(1, min(max_frames, int(np.ceil(duration * fps))))
    times = [k / fps for k in range(n)]
    if duration:
        times = [t for t in times if t < duration] or [0.0]
    return FramePlan(times, [(i, i + 1) for i in range(len(times) - 1)], "rate")


def plan_frames(
    duration: float | None,
    keyframes: list[float],
    fps: float,
    max_frames: int,
    per_minute: int = PER_MINUTE,
) -> FramePlan:
    """The frames to analyse for a video of `duration` s with these keyframe times."""
    if not duration or duration <= GRID_SECONDS or len(keyframes) < 2 or max_frames < 2:
        return rate_plan(duration, fps, max_frames)
    keys = sorted(max(0.0, k) for k in keyframes)
    end = duration - MOTION_GAP - ANCHOR_DELAY  # room for the last pair
    anchors = sorted({min(k + ANCHOR_DELAY, end) for k in keys if k < end})
    if not anchors:
        return rate_plan(duration, fps, max_frames)
    budget = max(MIN_ANCHORS, round(per_minute * duration / 60.0))
    anchors = _fill_gaps(_thin(anchors, budget, duration), ANCHOR_DELAY, end)
    anchors = _thin(anchors, max_frames // 2, duration)  # the frame cap wins over the gaps
    # Keyframes a second or two apart are the encoder's interval (a phone's), not cuts.
    cuts = keys if float(np.median(np.diff(keys))) > 2 * MOTION_GAP else []

    def room(i: int) -> bool:
        # a partner inside the same stretch: before the next keyframe (a cut, perhaps)
        # and the next anchor
        after = bisect.bisect_right(cuts, anchors[i])
        limit = min(
            cuts[after] if after < len(cuts) else duration,
            anchors[i + 1] if i + 1 < len(anchors) else duration,
        )
        return anchors[i] + MOTION_GAP < limit - 0.05

    fits = [i for i in range(len(anchors)) if room(i)]
    spread = np.unique(np.round(np.linspace(0, len(fits) - 1, min(MAX_PAIRS, len(fits)))))
    partnered = {fits[int(k)] for k in spread} if fits else set()
    times: list[float] = []
    pairs: list[tuple[int, int]] = []
    for i, a in enumerate(anchors):
        times.append(a)
        if i in partnered:
            pairs.append((len(times) - 1, len(times)))
            times.append(a + MOTION_GAP)
    return FramePlan(times, pairs, "shots")


def _thin(anchors: list[float], budget: int, duration: float) -> list[float]:
    """At most `budget` anchors, spread by time: the first anchor in each of `budget`
    equal stretches of the video (so thinning never opens one long gap)."""
    if len(anchors) <= budget:
        return anchors
    kept: dict[int, float] = {}
    for a in anchors:
        kept.setdefault(min(budget - 1, int(a / duration * budget)), a)
    return sorted(kept.values())


def _fill_gaps(anchors: list[float], start: float, end: float) -> list[float]:
    """`anchors` with the video's start and end covered, and extra anchors spread evenly
    across every gap longer than MAX_GAP."""
    points = sorted(anchors)
    if points[0] - start > MAX_GAP:
        points.insert(0, start)
    if end - points[-1] > MAX_GAP:
        points.append(end)
    out = [points[0]]
    for a, b in zip(points, points[1:], strict=False):
        extra = int(np.ceil((b - a) / MAX_GAP)) - 1
        out.extend(a + (b - a) * (j + 1) / (extra + 1) for j in range(extra))
        out.append(b)
    return out
