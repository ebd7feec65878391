"""The video analysis cache: a second open of the same file comes from disk without the
image model; a changed file, other settings or a damaged entry are misses."""

from __future__ import annotations

import os
import time
from pathlib import Path

import media_factory as mf
import numpy as np
import pytest

from musechat_tui.analysis_cache import AnalysisCache, analyse_cached
from musechat_tui.config import load_settings
from musechat_tui.encoders import build_image_encoder, image_encoder_id


@pytest.fixture(scope="module")
def encoder() -> object:
    return build_image_encoder(load_settings(Path("/nonexistent.toml"), threads=1))


class Counting:
    """An encoder factory that counts how often the analysis needed the image model."""

    def __init__(self, encoder: object) -> None:
        self.encoder, self.calls = encoder, 0

    def __call__(self) -> object:
        self.calls += 1
        return self.encoder


def test_a_second_open_needs_no_image_model(tmp_path: Path, encoder: object) -> None:
    settings = load_settings(tmp_path / "none.toml", data_dir=tmp_path / "data", threads=1)
    video = mf.make_video(tmp_path / "clip.mp4", duration=6.0, pattern="texture")
    factory = Counting(encoder)
    eid = image_encoder_id(settings)
    assert eid == encoder.id  # known without loading the weights
    first = analyse_cached(video, settings, factory, eid)
    assert factory.calls == 1
    again = analyse_cached(video, settings, factory, eid)
    assert factory.calls == 1  # from the cache: the model was not asked for
    np.testing.assert_array_equal(again.embeddings, first.embeddings)
    np.testing.assert_array_equal(again.frame_times, first.frame_times)
    assert again.labels == first.labels and again.describe() == first.describe()
    assert [t.shape for t in again.thumbnails] == [t.shape for t in first.thumbnails]
    assert again.info == first.info  # the probe's reading is kept: no container opened

    # Other analysis settings: a miss.
    other = settings.model_copy(update={"fps": 2.0})
    analyse_cached(video, other, factory, eid)
    assert factory.calls == 2
    # The same name with other content: a miss.
    mf.make_video(video, duration=6.0, pattern="seconds")
    changed = analyse_cached(video, settings, factory, eid)
    assert factory.calls == 3
    assert not np.array_equal(changed.embeddings, first.embeddings)


def test_the_content_hash_is_remembered_until_the_file_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reopen reads no byte of an unchanged video; any write is a miss, even one that
    keeps the size and sets the modification time back."""
    import musechat_tui.analysis_cache as ac

    settings = load_settings(tmp_path / "none.toml", data_dir=tmp_path / "data", threads=1)
    video = mf.make_video(tmp_path / "clip.mp4", duration=2.0, pattern="texture")
    reads: list[Path] = []
    hash_file = ac.content_hash
    monkeypatch.setattr(ac, "content_hash", lambda p, n: reads.append(p) or hash_file(p, n))
    cache = AnalysisCache.in_data_dir(settings.data_dir)
    first = cache.key(video, settings, "enc")
    assert cache.key(video, settings, "enc") == first and len(reads) == 1
    assert AnalysisCache(cache.folder).key(video, settings, "enc") == first  # a new process
    assert len(reads) == 1

    before = video.stat()
    data = bytearray(video.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size
    time.sleep(0.05)  # past the file system's clock tick, so the change time moves
    video.write_bytes(bytes(data))
    os.utime(video, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert video.stat().st_size == before.st_size
    assert cache.key(video, settings, "enc") != first and len(reads) == 2


def test_a_damaged_entry_is_recomputed(tmp_path: Path, encoder: object) -> None:
    settings = load_settings(tmp_path / "none.toml", data_dir=tmp_path / "data", threads=1)
    video = mf.make_video(tmp_path / "clip.mp4", duration=4.0, pattern="texture")
    factory = Counting(encoder)
    eid = image_encoder_id(settings)
    analyse_cached(video, settings, factory, eid)
    cache = AnalysisCache.in_data_dir(settings.data_dir)
    [entry] = list(cache.folder.glob("*.npz"))
    entry.write_bytes(entry.read_bytes()[:100])
    analysis = analyse_cached(video, settings, factory, eid)
    assert factory.calls == 2 and analysis.embeddings.shape[0] > 0
    assert len(list(cache.folder.glob("*.npz"))) == 1  # rewritten, no leftovers
