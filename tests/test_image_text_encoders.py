"""Image and text encoders on real inputs: EfficientNet-Lite0 (packaged ImageNet weights) on
scikit-image's photos, all-MiniLM-L6-v2 (packaged) on sentences, and the CLIP loading code on a
tiny randomly initialised CLIP saved into a temporary folder (no CLIP weights exist offline)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import skimage.data as skdata

from musechat_tui.encoders.base import ImageEncoder, Label, TextEncoder, TokenFeatures
from musechat_tui.encoders.torch_utils import (
    batched,
    check_texts,
    l2_normalize,
    pad_token_features,
    set_torch_threads,
)
from musechat_tui.errors import ModelLoadError


def rgb(img: np.ndarray) -> np.ndarray:
    return np.repeat(img[..., None], 3, axis=-1) if img.ndim == 2 else img[..., :3]


# Only images that ship inside scikit-image (others would be downloaded).
PHOTOS = {
    "chelsea": lambda: skdata.chelsea(),  # a tabby cat
    "coffee": lambda: skdata.coffee(),  # a cup of espresso
    "rocket": lambda: skdata.rocket(),  # a rocket on its launch pad
    "camera": lambda: rgb(skdata.camera()),  # the cameraman and his tripod (grayscale)
}
EXPECTED = {
    "chelsea": {"tabby", "tiger cat", "Egyptian cat"},
    "coffee": {"espresso", "cup", "coffee mug"},
    "rocket": {"missile", "projectile", "space shuttle"},
    "camera": {"tripod", "reflex camera", "Polaroid camera"},
}


@pytest.fixture(scope="module")
def photos() -> dict[str, np.ndarray]:
    return {name: load() for name, load in PHOTOS.items()}


@pytest.fixture(scope="module")
def effnet():
    from musechat_tui.encoders.efficientnet import EfficientNetLite0Encoder

    return EfficientNetLite0Encoder(batch_size=4, threads=2)


@pytest.fixture(scope="module")
def minilm():
    from musechat_tui.encoders.minilm import MiniLMTextEncoder

    return MiniLMTextEncoder(batch_size=4, threads=2)


def cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


# -- shared helpers ----------------------------------------------------------------------


def test_batched_and_checks() -> None:
    assert [list(b) for b in batched([1, 2, 3, 4, 5], 2)] == [[1, 2], [3, 4], [5]]
    arr = np.arange(10).reshape(5, 2)
    assert [b.shape for b in batched(arr, 4)] == [(4, 2), (1, 2)]
    assert list(batched([], 3)) == []
    with pytest.raises(ValueError):
        list(batched([1], 0))
    with pytest.raises(TypeError):
        check_texts("a single string")
    with pytest.raises(TypeError):
        check_texts(["ok", 3])  # type: ignore[list-item]


def test_l2_normalize_and_threads() -> None:
    import torch

    x = l2_normalize(torch.tensor([[3.0, 4.0], [0.0, 0.0]]))
    assert torch.allclose(x, torch.tensor([[0.6, 0.8], [0.0, 0.0]]))  # zero row: no NaN
    set_torch_threads(2)
    assert torch.get_num_threads() == 2
    set_torch_threads(None)  # keeps the current setting
    assert torch.get_num_threads() == 2
    with pytest.raises(ValueError):
        set_torch_threads(0)


def test_pad_token_features() -> None:
    a = (np.ones((2, 3, 4), np.float32), np.array([[1, 1, 1], [1, 1, 0]], bool))
    b = (np.ones((1, 5, 4), np.float32), np.ones((1, 5), bool))
    tf = pad_token_features([a, b], 4)
    assert tf.tokens.shape == (3, 5, 4) and tf.mask.shape == (3, 5)
    assert tf.mask.sum(axis=1).tolist() == [3, 2, 5]
    assert not tf.tokens[0, 3:].any()
    empty = pad_token_features([], 4)
    assert empty.tokens.shape == (0, 0, 4)


# -- EfficientNet-Lite0 --------------------------------------------------------------------


def test_imagenet_class_names() -> None:
    from musechat_tui.encoders.imagenet_classes import IMAGENET_CLASSES

    assert len(IMAGENET_CLASSES) == 1000 and len(set(IMAGENET_CLASSES)) == 1000
    assert IMAGENET_CLASSES[0] == "tench"
    assert IMAGENET_CLASSES[281] == "tabby"
    assert IMAGENET_CLASSES[967] == "espresso"
    assert IMAGENET_CLASSES[999] == "toilet tissue"


def test_effnet_labels_real_photos(effnet, photos) -> None:
    assert isinstance(effnet, ImageEncoder)
    # a list of frames of different sizes goes through one call
    labels = effnet.labels([photos[n] for n in PHOTOS], k=5)
    for name, top in zip(PHOTOS, labels, strict=True):
        names = [lab.name for lab in top]
        assert len(top) == 5 and all(isinstance(lab, Label) for lab in top)
        assert EXPECTED[name] & set(names), f"{name}: {names}"
        scores = [lab.score for lab in top]
        assert scores == sorted(scores, reverse=True)
        assert 0.0 < sum(scores) <= 1.0 + 1e-6
    # the two clear photos are recognised with confidence
    top1 = {name: top[0] for name, top in zip(PHOTOS, labels, strict=True)}
    assert top1["coffee"].name == "espresso" and top1["coffee"].score > 0.5
    assert top1["camera"].name == "tripod" and top1["camera"].score > 0.5
    assert top1["chelsea"].name in EXPECTED["chelsea"]


def test_effnet_features(effnet, photos) -> None:
    cat = photos["chelsea"]
    frames = np.stack([cat, cat[:, ::-1], photos["coffee"][:300, :451], cat])
    feats = effnet.encode(frames)
    assert feats.shape == (4, 1280) and feats.dtype == np.float32
    assert effnet.dim == 1280 and effnet.id == "efficientnet-lite0-imagenet"
    assert np.isfinite(feats).all() and (feats >= 0).all()  # ReLU6 head, average pooled
    # The same input through the same call is bit-identical; a frame's vector at another
    # batch position or in a batch of another size is only close (CPU kernels are chosen
    # by batch shape, and differ by ~1e-6 between CPU revisions).
    np.testing.assert_array_equal(feats, effnet.encode(frames))  # deterministic
    np.testing.assert_allclose(feats[0], feats[3], atol=1e-5, rtol=1e-5)  # same frame
    single = np.concatenate([effnet.encode(f[None]) for f in frames[:2]])
    np.testing.assert_allclose(single, feats[:2], atol=1e-5, rtol=1e-5)
    # the mirrored cat is closer to the cat than the coffee cup is
    assert cos(feats[0], feats[1]) > cos(feats[0], feats[2]) + 0.1
    both, labels = effnet.encode_and_label(frames[:1], k=3)
    np.testing.assert_allclose(both, feats[:1], atol=1e-5, rtol=1e-5)  # batch of 1 vs 4
    assert len(labels) == 1 and len(labels[0]) == 3


def test_effnet_onnx_matches_pytorch(effnet, photos) -> None:
    """The ONNX graph (batch norm folded) gives today's PyTorch outputs within 1e-4, on
    the preprocessed photos and on frames the video analysis samples (short side 256)."""
    import onnx
    import torch

    from musechat_tui.encoders.efficientnet import torch_model

    reference = torch_model()
    frames = np.stack([photos["chelsea"][:256, :400], photos["coffee"][:256, :400]])
    for batch in (effnet.preprocess(frames), effnet.preprocess(photos["rocket"][None])):
        with torch.inference_mode():
            pooled, logits = (t.numpy() for t in reference(torch.from_numpy(batch)))
        ours_pooled, ours_logits = effnet.run(batch)
        np.testing.assert_allclose(ours_pooled, pooled, atol=1e-4, rtol=0)
        np.testing.assert_allclose(ours_logits, logits, atol=1e-4, rtol=0)
    graph = onnx.load(str(effnet.model_path))
    ops = {node.op_type for node in graph.graph.node}
    assert "BatchNormalization" not in ops and "Conv" in ops  # folded into the convolutions


def test_onnx_export_is_cached_and_keyed(tmp_path) -> None:
    """Exported once per source identity; a changed source exports again; an export
    that fails leaves nothing behind and says which model."""
    from musechat_tui.encoders.onnx_models import exported_model

    source = tmp_path / "weights.bin"
    source.write_bytes(b"one")
    calls = []

    def export(path: Path) -> None:
        import torch

        calls.append(path)
        torch.onnx.export(
            torch.nn.Linear(3, 2).eval(),
            (torch.zeros(1, 3),),
            str(path),
            input_names=["x"],
            output_names=["y"],
            dynamo=False,
        )

    first = exported_model("tiny", [source], export, folder=tmp_path / "onnx")
    assert exported_model("tiny", [source], export, folder=tmp_path / "onnx") == first
    assert len(calls) == 1
    source.write_bytes(b"changed")
    assert exported_model("tiny", [source], export, folder=tmp_path / "onnx") != first
    assert len(calls) == 2

    # a cached graph that no longer loads is exported again
    from musechat_tui.encoders.onnx_models import onnx_session

    damaged = exported_model("tiny", [source], export, folder=tmp_path / "onnx")
    damaged.write_bytes(b"truncated")
    path, session = onnx_session("tiny", [source], export, 1, folder=tmp_path / "onnx")
    assert path == damaged and len(calls) == 3
    assert session.run(None, {"x": np.zeros((1, 3), np.float32)})[0].shape == (1, 2)

    def broken(path: Path) -> None:
        path.write_bytes(b"not a model")

    with pytest.raises(ModelLoadError, match="broken: cannot export"):
        exported_model("broken", [source], broken, folder=tmp_path / "onnx")
    assert sorted(p.name.split("-")[0] for p in (tmp_path / "onnx").iterdir()) == ["tiny", "tiny"]


def test_effnet_input_checks(effnet) -> None:
    assert effnet.encode(np.zeros((0, 64, 64, 3), np.uint8)).shape == (0, 1280)
    assert effnet.labels(np.zeros((0, 64, 64, 3), np.uint8)) == []
    small = np.full((1, 50, 80, 3), 128, np.uint8)  # smaller than 224: upscaled
    assert effnet.encode(small).shape == (1, 1280)
    with pytest.raises(ValueError):
        effnet.encode(np.zeros((2, 64, 64, 3), np.float32))
    with pytest.raises(ValueError):
        effnet.encode(np.zeros((64, 64, 3), np.uint8))  # one frame without the batch axis


# -- all-MiniLM-L6-v2 ----------------------------------------------------------------------

SENTENCES = [
    "a calm piano piece",
    "soft solo piano music",
    "a heavy metal guitar riff",
    "the stock market fell",
    "",
]


def test_minilm_sentence_vectors(minilm) -> None:
    assert isinstance(minilm, TextEncoder)
    assert minilm.dim == 384 and minilm.id == "all-minilm-l6-v2"
    v = minilm.encode(SENTENCES)
    assert v.shape == (5, 384) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    calm, soft, metal, stocks = v[:4]
    assert calm @ soft > calm @ metal > calm @ stocks
    assert calm @ soft > 0.5 and calm @ stocks < 0.2
    np.testing.assert_array_equal(v, minilm.encode(SENTENCES))
    single = np.concatenate([minilm.encode([s]) for s in SENTENCES])
    np.testing.assert_allclose(single, v, atol=1e-5)
    assert minilm.encode([]).shape == (0, 384)


def test_minilm_matches_sentence_transformers(minilm) -> None:
    import sentence_transformers as st

    from musechat_tui.encoders.minilm import packaged_model_dir

    ref = st.SentenceTransformer(str(packaged_model_dir()), device="cpu").encode(
        SENTENCES[:4], convert_to_numpy=True
    )
    np.testing.assert_allclose(minilm.encode(SENTENCES[:4]), ref, atol=1e-5)


def test_minilm_onnx_matches_transformers(minilm) -> None:
    """Hidden states of the ONNX graph, tokenised by `tokenizers`, against transformers'
    own tokenizer and model (1e-4)."""
    import torch
    from transformers import AutoTokenizer

    from musechat_tui.encoders.minilm import packaged_model_dir, torch_model

    folder = packaged_model_dir()
    texts = ["Calm piano, no drums!", "música para un vídeo", "music " * 300]
    batch = AutoTokenizer.from_pretrained(folder, local_files_only=True)(
        texts, padding=True, truncation=True, max_length=256, return_tensors="pt"
    )
    with torch.inference_mode():
        hidden = torch_model(folder)(
            batch["input_ids"], batch["attention_mask"], batch["token_type_ids"]
        ).numpy()
    mask = batch["attention_mask"].numpy()
    ours = minilm.encode_tokens(texts)
    np.testing.assert_array_equal(ours.mask, mask.astype(bool))
    np.testing.assert_allclose(ours.tokens, hidden * mask[..., None], atol=1e-4, rtol=0)


def test_minilm_token_features(minilm) -> None:
    long_text = "music " * 400  # longer than the 256-token limit
    texts = ["a calm piano piece", "hi", long_text]
    tf = minilm.encode_tokens(texts)
    assert isinstance(tf, TokenFeatures)
    assert tf.tokens.dtype == np.float32 and tf.mask.dtype == bool
    assert tf.tokens.shape == (3, 256, 384) and tf.mask.shape == (3, 256)
    lengths = tf.mask.sum(axis=1).tolist()
    assert lengths[2] == 256  # truncated
    assert lengths[1] == 3  # [CLS] hi [SEP]
    assert not tf.tokens[~tf.mask].any()  # padding is zero
    alone = minilm.encode_tokens(texts[:1])
    n = lengths[0]
    np.testing.assert_allclose(alone.tokens[0, :n], tf.tokens[0, :n], atol=1e-5)
    assert minilm.encode_tokens([]).tokens.shape == (0, 0, 384)


def test_minilm_missing_folder() -> None:
    from musechat_tui.encoders.minilm import MiniLMTextEncoder

    with pytest.raises(ModelLoadError, match="no-such-minilm"):
        MiniLMTextEncoder(model_dir="/nonexistent/no-such-minilm")


# -- CLIP (tiny random model) --------------------------------------------------------------


def _byte_chars() -> list[str]:
    """GPT-2/CLIP byte-to-unicode table: every byte gets a printable character."""
    bs = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1)]
    bs += range(ord("®"), ord("ÿ") + 1)
    cs, n = list(bs), 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory) -> tuple[Path, object]:
    import torch
    from transformers import CLIPConfig, CLIPModel, CLIPTokenizer

    from musechat_tui.encoders.clip import _image_processor_class

    folder = tmp_path_factory.mktemp("tiny-clip")
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for suffix in ("", "</w>"):  # byte-level BPE: all single bytes, word-final or not
        for c in _byte_chars():
            vocab[c + suffix] = len(vocab)
    merges = [("p", "i"), ("pi", "a"), ("c", "a")]
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    tokenizer = CLIPTokenizer(vocab=vocab, merges=merges)
    config = CLIPConfig(
        text_config={
            "vocab_size": len(vocab),
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "max_position_embeddings": 77,
            "bos_token_id": 0,
            "eos_token_id": 1,
            "pad_token_id": 1,
        },
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": 32,
            "patch_size": 8,
        },
        projection_dim=16,
    )
    torch.manual_seed(0)
    model = CLIPModel(config).eval()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    _image_processor_class()(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    ).save_pretrained(folder)
    return folder, model


def test_clip_image_encoder(tiny_clip, photos) -> None:
    import torch

    from musechat_tui.encoders.clip import ClipImageEncoder

    folder, model = tiny_clip
    enc = ClipImageEncoder(str(folder), batch_size=2, threads=2)
    assert enc.dim == 16 and enc.id == f"clip-image:{folder.name}"
    frames = np.stack([photos["chelsea"], photos["chelsea"][::-1], photos["coffee"][:300, :451]])
    v = enc.encode(frames)
    assert v.shape == (3, 16) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(v, enc.encode(frames))
    np.testing.assert_allclose(np.concatenate([enc.encode(f[None]) for f in frames]), v, atol=1e-5)
    # the tower loaded the checkpoint's weights: same as the full CLIPModel
    pixels = enc._processor(images=list(frames), return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        ref = model.get_image_features(pixel_values=pixels)
    ref = getattr(ref, "pooler_output", ref)  # transformers 5 may return an output object
    ref = (ref / ref.norm(dim=-1, keepdim=True)).numpy()
    np.testing.assert_allclose(v, ref, atol=1e-5)
    assert enc.labels(frames) == [[], [], []]  # no classifier head
    assert enc.encode(np.zeros((0, 8, 8, 3), np.uint8)).shape == (0, 16)


def test_clip_text_encoder(tiny_clip) -> None:
    import torch

    from musechat_tui.encoders.clip import ClipTextEncoder

    folder, model = tiny_clip
    enc = ClipTextEncoder(str(folder), batch_size=2, threads=2)
    assert enc.dim == 16 and enc.token_dim == 32 and enc.max_tokens == 77
    texts = ["a calm piano piece", "no", "x" * 300]
    v = enc.encode(texts)
    assert v.shape == (3, 16) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(v, enc.encode(texts))
    np.testing.assert_allclose(np.concatenate([enc.encode([t]) for t in texts]), v, atol=1e-5)
    batch = enc._tokenizer(texts[:1], return_tensors="pt")
    with torch.no_grad():
        ref = model.get_text_features(**batch)
    ref = getattr(ref, "pooler_output", ref)
    ref = (ref / ref.norm(dim=-1, keepdim=True)).numpy()
    np.testing.assert_allclose(v[:1], ref, atol=1e-5)

    tf = enc.encode_tokens(texts)
    assert tf.tokens.shape == (3, 77, 32) and tf.mask.shape == (3, 77)
    lengths = tf.mask.sum(axis=1)
    assert lengths[1] == 4 and lengths[2] == 77  # <start> n o <end>; truncated to 77
    assert not tf.tokens[~tf.mask].any()


def test_clip_load_errors(tmp_path) -> None:
    from musechat_tui.encoders.clip import ClipImageEncoder, ClipTextEncoder

    missing = tmp_path / "no-such-clip"
    for cls in (ClipImageEncoder, ClipTextEncoder):
        with pytest.raises(ModelLoadError, match="no-such-clip") as err:
            cls(str(missing))
        assert "does not exist" in str(err.value)
    broken = tmp_path / "broken-clip"
    broken.mkdir()
    (broken / "config.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelLoadError, match="broken-clip"):
        ClipTextEncoder(str(broken))


def test_build_encoders_from_settings(tiny_clip, monkeypatch, tmp_path) -> None:
    from musechat_tui.config import Settings
    from musechat_tui.encoders import build_image_encoder, build_text_encoder
    from musechat_tui.encoders.clip import ClipImageEncoder, ClipTextEncoder

    monkeypatch.setattr(Settings, "config_file", tmp_path / "none.toml")
    folder, _ = tiny_clip
    settings = Settings(image_encoder="clip", text_encoder="clip", clip_model=str(folder))
    assert isinstance(build_image_encoder(settings), ClipImageEncoder)
    assert isinstance(build_text_encoder(settings), ClipTextEncoder)


def test_sessions_let_idle_threads_sleep(tmp_path: Path) -> None:
    """Idle ONNX Runtime threads must not spin: the models share two cores with the
    decoder, each other and the UI."""
    import onnx
    from onnx import TensorProto, helper

    from musechat_tui.encoders.onnx_models import ort_session

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    path = tmp_path / "relu.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    session = ort_session(path, threads=2)
    options = session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    out = session.run(None, {"x": np.array([[-1, 0, 1, 2]], np.float32)})[0]
    assert out.tolist() == [[0, 0, 1, 2]]
