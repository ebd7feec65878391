"""Video analyses kept on disk, so reopening a video (or resuming its chat) skips decoding
and the image encoder: the image model is not even loaded on a hit.

The key is the video's content hash with everything the analysis depends on (frame rate,
frame cap, image encoder, cache format), so a changed file or other settings miss. The
hash itself is remembered by what `stat` says of the file, so a reopen reads none of it. Entries
are one .npz each (no pickles), written through a temp file; an unreadable entry is a miss
and is removed. The oldest entries go beyond `MAX_ENTRIES`.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from musechat_tui.analysis import VideoAnalysis, analyse_video
from musechat_tui.config import Settings
from musechat_tui.disk_cache import cached_text
from musechat_tui.encoders import build_audio_encoder
from musechat_tui.encoders.base import AudioEncoder, ImageEncoder, Label
from musechat_tui.media import MediaInfo
from musechat_tui.media.files import content_hash, regular_file_stat
from musechat_tui.media.frame_plan import PLAN_VERSION
from musechat_tui.soundtrack import SoundReading, read_soundtrack

FORMAT = 4  # 2: colour temperature, saturation, cut rate, own sound; 3: frames planned by
# shots; 4: the probe's reading kept (a hit opens no container)
MAX_ENTRIES = 200
MAX_HASHES = 1000  # remembered content hashes (a few dozen bytes each)
N_THUMBNAILS = 6


class AnalysisCache:
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> AnalysisCache:
        return cls(Path(data_dir) / "cache" / "video-analysis")

    def key(self, video: Path, settings: Settings, encoder_id: str) -> str:
        parts = {
            "format": FORMAT,
            "content": self.content(video),
            "fps": settings.fps,
            "max_video_frames": settings.max_video_frames,
            "plan": PLAN_VERSION,
            "encoder": encoder_id,
            "audio_encoder": settings.audio_encoder,
            "thumbnails": N_THUMBNAILS,
        }
        return hashlib.sha1(json.dumps(parts, sort_keys=True).encode()).hexdigest()

    def content(self, video: Path) -> str:
        """The video's content hash, remembered by its path, device, inode, size and
        modification and change times: hashing reads the whole file (~2 s for 1 GB), and a
        write to the file moves its change time, which no tool can set back."""
        st = regular_file_stat(video)
        stamp = [os.path.abspath(video), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns,
                 st.st_ctime_ns]  # fmt: skip
        name = hashlib.sha1(os.fsencode("\0".join(map(str, stamp)))).hexdigest()
        return cached_text(
            self.folder / "hashes" / f"{name}.txt",
            lambda: content_hash(video, st.st_size),
            valid=lambda text: len(text) == 32,
        )

    def _file(self, key: str) -> Path:
        return self.folder / f"{key}.npz"

    def get(self, key: str, video: Path) -> VideoAnalysis | None:
        path = self._file(key)
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                thumbs = [z[f"thumb{i}"] for i in range(int(meta["thumbnails"]))]
                sound = None
                if meta.get("sound"):
                    sound = SoundReading(
                        **meta["sound"],
                        embedding=z.get("sound_embedding", None),
                    )
                return VideoAnalysis(
                    path=video,
                    info=MediaInfo.from_dict(meta["info"], video),
                    frame_times=z["frame_times"],
                    embeddings=z["embeddings"],
                    labels=[Label(n, float(s)) for n, s in meta["labels"]],
                    brightness=float(meta["brightness"]),
                    colourfulness=float(meta["colourfulness"]),
                    motion=float(meta["motion"]),
                    encoder=str(meta["encoder"]),
                    thumbnails=thumbs,
                    warmth=float(meta["warmth"]),
                    saturation=float(meta["saturation"]),
                    cut_rate=float(meta["cut_rate"]),
                    sound=sound,
                )
        except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile):
            path.unlink(missing_ok=True)  # damaged: recompute
            return None

    def put(self, key: str, analysis: VideoAnalysis) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        meta = {
            "labels": [[label.name, label.score] for label in analysis.labels],
            "brightness": analysis.brightness,
            "colourfulness": analysis.colourfulness,
            "motion": analysis.motion,
            "encoder": analysis.encoder,
            "thumbnails": len(analysis.thumbnails),
            "warmth": analysis.warmth,
            "saturation": analysis.saturation,
            "cut_rate": analysis.cut_rate,
            "sound": analysis.sound.to_dict() if analysis.sound else None,
            "info": analysis.info.to_dict(),
        }
        arrays = {f"thumb{i}": t for i, t in enumerate(analysis.thumbnails)}
        if analysis.sound is not None and analysis.sound.embedding is not None:
            arrays["sound_embedding"] = analysis.sound.embedding
        tmp = self.folder / f".{key}.{os.getpid()}.part.npz"
        try:
            np.savez(
                tmp,
                meta=np.array(json.dumps(meta)),
                frame_times=analysis.frame_times,
                embeddings=analysis.embeddings,
                **arrays,
            )
            os.replace(tmp, self._file(key))
        except OSError:
            tmp.unlink(missing_ok=True)  # a full disk costs the cache, never the chat
            return
        self._prune()

    def _prune(self) -> None:
        for pattern, keep in (("*.npz", MAX_ENTRIES), ("hashes/*.txt", MAX_HASHES)):
            entries = sorted(self.folder.glob(pattern), key=lambda p: p.stat().st_mtime)
            for old in entries[:-keep]:
                old.unlink(missing_ok=True)


def analyse_cached(
    video: Path,
    settings: Settings,
    encoder: Callable[[], ImageEncoder],
    encoder_id: str,
    audio_encoder: Callable[[], AudioEncoder] | None = None,
) -> VideoAnalysis:
    """`analyse_video` and `read_soundtrack`, from the cache when this very file was
    analysed with these settings; `encoder()` and `audio_encoder()` are only called (and
    their models only loaded) on a miss."""
    cache = AnalysisCache.in_data_dir(settings.data_dir)
    try:
        key = cache.key(video, settings, encoder_id)
    except OSError:
        key = None  # unreadable or not a regular file: analyse_video says why
    if key is not None and (hit := cache.get(key, video)) is not None:
        return hit
    # The soundtrack (audio decode, VAD, maybe the tagger) is read while the frames decode
    # and encode: neither waits for the other, and most of both runs outside the GIL.
    with ThreadPoolExecutor(1, thread_name_prefix="soundtrack") as pool:
        sound = pool.submit(
            read_soundtrack, video, audio_encoder or (lambda: build_audio_encoder(settings))
        )
        analysis = analyse_video(video, settings, encoder, n_thumbnails=N_THUMBNAILS)
        analysis.sound = sound.result()
    if key is not None:
        cache.put(key, analysis)
    return analysis
