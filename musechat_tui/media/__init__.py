"""Media layer: probe files, decode audio windows and sample video frames with PyAV."""

from musechat_tui.media.audio import (
    AudioClip,
    central_window,
    load_audio,
    load_central_window,
    split_segments,
)
from musechat_tui.media.probe import MediaInfo, StreamInfo, open_container, opened, probe
from musechat_tui.media.video import (
    Frame,
    keyframe_times,
    output_size,
    sample_frames,
    video_duration,
)

__all__ = [
    "AudioClip",
    "Frame",
    "MediaInfo",
    "StreamInfo",
    "central_window",
    "load_audio",
    "load_central_window",
    "open_container",
    "opened",
    "output_size",
    "probe",
    "keyframe_times",
    "sample_frames",
    "split_segments",
    "video_duration",
]
