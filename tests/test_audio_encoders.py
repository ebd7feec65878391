"""Audio encoders on real (rendered) music: musicnn ONNX, the AST loading path on a tiny random
config, and the fluidsynth renderer they rely on."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from builder import render
from musechat_tui.encoders import musicnn
from musechat_tui.encoders.base import AudioFeatures
from musechat_tui.encoders.musicnn import MusicnnEncoder
from musechat_tui.errors import MediaMissingError, ModelLoadError, MuseChatError

MUSICNN_DIR = Path(__file__).resolve().parents[1] / "data" / "musicnn"
SR = 16_000
SEG = 10 * SR
PIANO_PIECE = "mozart/k545/movement1_exposition"  # 24 s of solo piano


@pytest.fixture(scope="session")
def encoder() -> MusicnnEncoder:
    return MusicnnEncoder(MUSICNN_DIR, batch_size=16, threads=2)


@pytest.fixture(scope="session")
def piano_audio(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    """The piano piece rendered once per session, as 16 kHz mono float32."""
    # fluidsynth and the soundfont come with scripts/install.sh: without them this fails.
    assert shutil.which("fluidsynth"), "fluidsynth is missing: run scripts/install.sh"
    import soundfile as sf

    wav = render.render_corpus_piece(
        PIANO_PIECE, tmp_path_factory.mktemp("render") / "piano.wav", instrument="piano"
    )
    audio, sr = sf.read(wav, dtype="float32", always_2d=True)
    assert sr == SR
    return audio.mean(axis=1)


@pytest.fixture(scope="session")
def piano_segments(piano_audio: np.ndarray) -> list[np.ndarray]:
    segs = [piano_audio[i : i + SEG] for i in range(0, len(piano_audio) - SEG + 1, SEG)]
    assert len(segs) == 2
    return segs


@pytest.fixture(scope="session")
def piano_features(encoder: MusicnnEncoder, piano_segments: list[np.ndarray]) -> AudioFeatures:
    return encoder.encode(piano_segments)


# --- mel front end ------------------------------------------------------------------------


def test_mel_matches_librosa() -> None:
    """The numpy front end equals librosa's (which musicnn uses), without loading numba."""
    import librosa

    rng = np.random.default_rng(0)
    t = np.arange(3 * SR) / SR
    y = (0.5 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(3 * SR)).astype(np.float32)
    ref_fb = librosa.filters.mel(sr=SR, n_fft=512, n_mels=96)
    np.testing.assert_allclose(musicnn.mel_filterbank(), ref_fb, rtol=1e-6, atol=1e-9)
    ref = librosa.feature.melspectrogram(y=y, sr=SR, n_fft=512, hop_length=256, n_mels=96).T
    ours = musicnn.mel_power(y)
    assert ours.shape == ref.shape and ours.dtype == np.float32
    assert np.max(np.abs(ours - ref)) <= 1e-5 * np.max(ref)
    logmel = musicnn.log_mel(y)
    np.testing.assert_allclose(logmel, np.log10(10000 * ref + 1), atol=1e-5)
    # float32 kept on purpose: musicnn's float16 cast would turn these bins into inf.
    assert np.isfinite(logmel).all() and (10000 * ref > np.finfo(np.float16).max).any()


def test_patches_follow_musicnn() -> None:
    assert musicnn.log_mel(np.zeros(SEG, np.float32)).shape == (626, 96)
    assert musicnn.patches(np.ones((626, 96), np.float32)).shape == (3, 187, 96)
    short_mel = np.arange(50 * 96, dtype=np.float32).reshape(50, 96)
    short = musicnn.patches(short_mel)
    assert short.shape == (1, 187, 96)  # repeated, as musicnn's training did ("repeat-pad")
    assert np.array_equal(short[0, :50], short_mel) and np.array_equal(
        short[0, 150:], short_mel[:37]
    )


# --- musicnn on real music ------------------------------------------------------------------


def test_piano_piece_gets_piano_tags(piano_features: AudioFeatures) -> None:
    mtt = [t.name for t in piano_features.top_tags("mtt", 5)]
    assert "piano" in mtt[:3], mtt
    assert "classical" in mtt, mtt
    assert piano_features.top_tags("msd", 1)[0].name in piano_features.tag_names["msd"]


def test_shapes_and_dims(encoder: MusicnnEncoder, piano_features: AudioFeatures) -> None:
    assert encoder.dim == 400 and encoder.sample_rate == SR
    assert encoder.id == "musicnn-mtt+msd-onnx-v1"
    emb = piano_features.embeddings
    assert emb.shape == (2, 400) and emb.dtype == np.float32 and np.isfinite(emb).all()
    for vocab in ("mtt", "msd"):
        probs = piano_features.tags[vocab]
        assert probs.shape == (2, 50) and probs.dtype == np.float32
        assert probs.min() >= 0 and probs.max() <= 1
        assert len(piano_features.tag_names[vocab]) == 50
    assert piano_features.tag_names["mtt"][9] == "piano"  # musicnn's MTT order
    track = piano_features.track_embedding()
    assert track.shape == (400,) and abs(float(np.linalg.norm(track)) - 1) < 1e-5


def test_deterministic(
    encoder: MusicnnEncoder, piano_segments: list[np.ndarray], piano_features: AudioFeatures
) -> None:
    again = encoder.encode(piano_segments)
    assert np.array_equal(again.embeddings, piano_features.embeddings)
    for vocab in ("mtt", "msd"):
        assert np.array_equal(again.tags[vocab], piano_features.tags[vocab])


def test_batching_matches_one_at_a_time(
    piano_segments: list[np.ndarray], piano_features: AudioFeatures
) -> None:
    single = MusicnnEncoder(MUSICNN_DIR, batch_size=1, threads=1)
    one_by_one = [single.encode([s]) for s in piano_segments]
    emb = np.concatenate([f.embeddings for f in one_by_one])
    np.testing.assert_allclose(emb, piano_features.embeddings, rtol=0, atol=1e-5)
    for vocab in ("mtt", "msd"):
        probs = np.concatenate([f.tags[vocab] for f in one_by_one])
        np.testing.assert_allclose(probs, piano_features.tags[vocab], rtol=0, atol=1e-6)


def test_side_by_side_models_match_one_after_the_other(
    piano_segments: list[np.ndarray], piano_features: AudioFeatures
) -> None:
    # threads=2 runs MTT and MSD side by side (a thread each); threads=1 one after the other
    sequential = MusicnnEncoder(MUSICNN_DIR, batch_size=16, threads=1).encode(piano_segments)
    np.testing.assert_allclose(sequential.embeddings, piano_features.embeddings, atol=1e-5)
    for vocab in ("mtt", "msd"):
        np.testing.assert_allclose(sequential.tags[vocab], piano_features.tags[vocab], atol=1e-6)


@pytest.mark.parametrize("vocab", ["mtt", "msd"])
def test_pool_before_batchnorm_is_exact(vocab: str, piano_audio: np.ndarray) -> None:
    """The rewritten graph (batch norms after the frequency pools) gives the converted
    graph's outputs, on real music and on random input."""
    import onnx
    import onnxruntime as ort

    from musechat_tui.encoders.graph_rewrites import pool_before_batchnorm

    source = MUSICNN_DIR / musicnn.MODELS[vocab]
    model = onnx.load(str(source))
    assert pool_before_batchnorm(model) == 5  # the five front-end branches
    onnx.checker.check_model(model)
    rewritten = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    original = ort.InferenceSession(str(source), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    mel = np.concatenate(
        [
            musicnn.patches(musicnn.log_mel(piano_audio))[:4],
            rng.uniform(0, 4, (2, musicnn.PATCH_FRAMES, musicnn.N_MELS)).astype(np.float32),
        ]
    )
    names = ["tags", "penultimate"]
    for a, b in zip(
        original.run(names, {"mel": mel}), rewritten.run(names, {"mel": mel}), strict=True
    ):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5)
    assert pool_before_batchnorm(model) == 0  # nothing left to rewrite


def test_short_and_mixed_segments(encoder: MusicnnEncoder, piano_audio: np.ndarray) -> None:
    segs = [piano_audio[: 2 * SR], piano_audio[SR : SR + SEG], piano_audio[:100]]
    feats = encoder.encode(segs)
    assert feats.embeddings.shape == (3, 400) and np.isfinite(feats.embeddings).all()
    assert feats.tags["mtt"].shape == (3, 50)
    alone = encoder.encode(segs[:1])  # a 2 s segment on its own: one repeat-padded patch
    np.testing.assert_allclose(alone.embeddings[0], feats.embeddings[0], atol=1e-5)
    assert "piano" in [t.name for t in alone.top_tags("mtt", 5)]


def test_empty_and_bad_input(encoder: MusicnnEncoder) -> None:
    feats = encoder.encode([])
    assert feats.embeddings.shape == (0, 400) and feats.tags["mtt"].shape == (0, 50)
    with pytest.raises(ValueError, match="mono"):
        encoder.encode([np.zeros((2, SR), np.float32)])


def test_missing_model_dir(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir"
    with pytest.raises(ModelLoadError) as err:
        MusicnnEncoder(missing)
    assert str(missing) in str(err.value)


def test_corrupt_model_file(tmp_path: Path) -> None:
    shutil.copy(MUSICNN_DIR / "tags.json", tmp_path / "tags.json")
    shutil.copy(MUSICNN_DIR / "MSD_musicnn.onnx", tmp_path / "MSD_musicnn.onnx")
    bad = tmp_path / "MTT_musicnn.onnx"
    bad.write_bytes(b"not an onnx model")
    with pytest.raises(ModelLoadError, match="MTT_musicnn.onnx"):
        MusicnnEncoder(tmp_path)
    (tmp_path / "tags.json").write_text("{", encoding="utf-8")
    with pytest.raises(ModelLoadError, match="tags.json"):
        MusicnnEncoder(tmp_path)


# --- renderer -------------------------------------------------------------------------------


def test_render_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(MediaMissingError):
        render.render_midi(tmp_path / "missing.mid", tmp_path / "out.wav")
    with pytest.raises(MuseChatError, match="soundfont"):
        render.find_soundfont(tmp_path / "missing.sf2")
    midi = tmp_path / "x.mid"
    midi.write_bytes(b"MThd")
    monkeypatch.setattr(render.shutil, "which", lambda _name: None)
    with pytest.raises(MuseChatError, match="fluidsynth is not installed"):
        render.render_midi(midi, tmp_path / "out.wav")


def test_render_rejects_bad_midi(tmp_path: Path) -> None:
    midi = tmp_path / "bad.mid"
    midi.write_bytes(b"this is not a MIDI file")
    with pytest.raises(MuseChatError, match="fluidsynth could not render"):
        render.render_midi(midi, tmp_path / "out.wav")
    assert not (tmp_path / "out.wav").exists()


# --- AST on a tiny random config (never a download) -----------------------------------------


@pytest.fixture(scope="module")
def tiny_ast(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import torch
    from transformers import ASTConfig, ASTFeatureExtractor, ASTForAudioClassification, ASTModel

    root = tmp_path_factory.mktemp("ast")
    labels = ["Music", "Speech", "Piano"]
    config = ASTConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_length=128,
        num_mel_bins=32,
        id2label=dict(enumerate(labels)),
        label2id={name: i for i, name in enumerate(labels)},
    )
    torch.manual_seed(0)
    dirs = {"head": root / "head", "base": root / "base"}
    ASTForAudioClassification(config).save_pretrained(dirs["head"])
    ASTModel(config).save_pretrained(dirs["base"])
    for d in dirs.values():
        ASTFeatureExtractor(num_mel_bins=32, max_length=128).save_pretrained(d)
    return dirs


def test_ast_with_head(tiny_ast: dict[str, Path]) -> None:
    from musechat_tui.encoders.ast import ASTAudioEncoder

    rng = np.random.default_rng(0)
    segs = [(0.1 * rng.standard_normal(n)).astype(np.float32) for n in (SEG, 2 * SR, 3 * SR)]
    enc = ASTAudioEncoder(str(tiny_ast["head"]), batch_size=2, threads=1)
    feats = enc.encode(segs)
    assert enc.dim == 32 and feats.embeddings.shape == (3, 32)
    assert feats.embeddings.dtype == np.float32
    assert feats.tags["audioset"].shape == (3, 3)
    assert feats.tag_names["audioset"] == ["Music", "Speech", "Piano"]
    assert feats.tags["audioset"].min() >= 0 and feats.tags["audioset"].max() <= 1
    single = ASTAudioEncoder(str(tiny_ast["head"]), batch_size=1).encode(segs)
    np.testing.assert_allclose(single.embeddings, feats.embeddings, atol=1e-5)
    assert np.array_equal(enc.encode(segs).embeddings, feats.embeddings)


def test_ast_without_head(tiny_ast: dict[str, Path]) -> None:
    from musechat_tui.encoders.ast import ASTAudioEncoder

    feats = ASTAudioEncoder(str(tiny_ast["base"])).encode([np.zeros(SR, np.float32)])
    assert feats.embeddings.shape == (1, 32) and feats.tags == {}


def test_ast_load_failure(tmp_path: Path) -> None:
    from musechat_tui.encoders.ast import ASTAudioEncoder

    missing = tmp_path / "no-ast-here"
    with pytest.raises(ModelLoadError, match=str(missing)):
        ASTAudioEncoder(str(missing))
    (tmp_path / "config.json").write_text('{"model_type": "bert"}', encoding="utf-8")
    with pytest.raises(ModelLoadError, match="not 'audio-spectrogram-transformer'"):
        ASTAudioEncoder(str(tmp_path))
