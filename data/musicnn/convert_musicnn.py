"""Convert the musicnn MTT_musicnn and MSD_musicnn TF1 checkpoints to ONNX (run once).

MuseChat runs musicnn with onnxruntime only; this script is kept beside the .onnx files so
they can be rebuilt and checked. It needs TensorFlow, so it runs in a throwaway venv:

    python3.11 -m venv /tmp/tfvenv
    /tmp/tfvenv/bin/pip install tensorflow==2.21.0 tf-keras==2.21.0 librosa onnx onnxruntime
    /tmp/tfvenv/bin/pip install --no-deps musicnn==0.1.0 "tf2onnx==1.17.*"
    TF_USE_LEGACY_KERAS=1 /tmp/tfvenv/bin/python data/musicnn/convert_musicnn.py \
        --audio /usr/share/hyperrogue/music/hr-savino-ocean.ogg --out data/musicnn

The verification recording comes from `apt-get install hyperrogue-music`; any real
music file works. (`pip install musicnn` with its dependencies fails on Python 3.11: it
pins numpy<1.17.)

Each ONNX model takes `mel`: float32 (batch, 187, 96) log-mel patches, and returns
`tags` (batch, 50) sigmoid probabilities, `penultimate` (batch, 200), `max_pool` and
`mean_pool` (batch, 753). The graph is built with is_training=False (batch norm uses its
moving averages, dropout is off), restored from the packaged checkpoint, frozen and
converted with tf2onnx. Then both TensorFlow and onnxruntime run the same mel patches of a
real recording and the largest absolute difference per output is printed. The script
fails if a difference exceeds 1e-4 x max(1, largest |value| of that output): tags,
penultimate and mean_pool stay within 1e-5 absolute; max_pool values reach ~110, where
float32 accumulation-order differences (TF oneDNN vs onnxruntime convolutions) give
~1.5e-4 absolute, ~2e-6 relative. tags.json gets the 50 MTT and 50 MSD tag names in
model order from musicnn.configuration.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import librosa  # noqa: E402
import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf2onnx  # noqa: E402
from musicnn import configuration as mconfig  # noqa: E402
from musicnn import models as mmodels  # noqa: E402

tf.compat.v1.disable_eager_execution()

MODELS = ("MTT_musicnn", "MSD_musicnn")
N_FRAMES = 187  # musicnn's input_length=3 s -> time_to_frames(3) + 1
OUTPUTS = ("tags", "penultimate", "max_pool", "mean_pool")
TOLERANCE = 1e-4
OPSET = 17


def log_mel(audio: np.ndarray) -> np.ndarray:
    """musicnn's front end, kept in float32 (musicnn casts to float16, which overflows)."""
    mel = librosa.feature.melspectrogram(
        y=audio,
        sr=mconfig.SR,
        hop_length=mconfig.FFT_HOP,
        n_fft=mconfig.FFT_SIZE,
        n_mels=mconfig.N_MELS,
    ).T
    return np.log10(10000 * mel + 1).astype(np.float32)


def patches(mel: np.ndarray) -> np.ndarray:
    """Non-overlapping 187-frame patches, as musicnn.extractor with input_overlap=False."""
    starts = range(0, mel.shape[0] - N_FRAMES + 1, N_FRAMES)
    return np.stack([mel[s : s + N_FRAMES] for s in starts]).astype(np.float32)


def build_frozen(model: str, checkpoint_dir: Path) -> tf.compat.v1.GraphDef:
    """Inference graph of one musicnn model with the checkpoint's weights as constants."""
    num_classes = len(mconfig.MTT_LABELS if "MTT" in model else mconfig.MSD_LABELS)
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, N_FRAMES, mconfig.N_MELS], name="mel")
        with tf.name_scope("model"):
            out = mmodels.define_model(x, False, model, num_classes)
        logits, mean_pool, max_pool, penultimate = out[0], out[6], out[7], out[8]
        tf.identity(tf.nn.sigmoid(logits), name="tags")
        tf.identity(penultimate, name="penultimate")
        tf.identity(max_pool, name="max_pool")
        tf.identity(mean_pool, name="mean_pool")
        with tf.compat.v1.Session(graph=graph) as sess:
            # musicnn saves its checkpoints with an empty file prefix inside the folder.
            tf.compat.v1.train.Saver().restore(sess, str(checkpoint_dir) + "/")
            frozen = tf.compat.v1.graph_util.convert_variables_to_constants(
                sess, graph.as_graph_def(), list(OUTPUTS)
            )
    return frozen


def run_tf(frozen: tf.compat.v1.GraphDef, batch: np.ndarray) -> list[np.ndarray]:
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(frozen, name="")
        with tf.compat.v1.Session(graph=graph) as sess:
            return sess.run([f"{n}:0" for n in OUTPUTS], feed_dict={"mel:0": batch})


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--audio", type=Path, required=True, help="real recording used to verify")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    import musicnn

    pkg = Path(musicnn.__file__).resolve().parent
    audio, _ = librosa.load(args.audio, sr=mconfig.SR, mono=True)
    batch = patches(log_mel(audio))
    print(
        f"verification input: {args.audio.name}, {len(audio) / mconfig.SR:.1f} s, "
        f"{len(batch)} patches"
    )

    worst = 0.0
    for model in MODELS:
        frozen = build_frozen(model, pkg / model)
        onnx_model, _ = tf2onnx.convert.from_graph_def(
            frozen,
            input_names=["mel:0"],
            output_names=[f"{n}:0" for n in OUTPUTS],
            opset=OPSET,
        )
        # Plain names for the runtime side: mel -> tags, penultimate, max_pool, mean_pool.
        renames = {f"{n}:0": n for n in ("mel", *OUTPUTS)}
        for node in onnx_model.graph.node:
            node.input[:] = [renames.get(i, i) for i in node.input]
            node.output[:] = [renames.get(o, o) for o in node.output]
        for vi in (*onnx_model.graph.input, *onnx_model.graph.output):
            vi.name = renames.get(vi.name, vi.name)
            vi.type.tensor_type.shape.dim[0].dim_param = "batch"  # tf2onnx says "unk__N"
        onnx_model.doc_string = f"musicnn 0.1.0 {model} (Pons & Serra), converted with tf2onnx"
        path = args.out / f"{model}.onnx"
        path.write_bytes(onnx_model.SerializeToString())

        tf_out = run_tf(frozen, batch)
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        ort_out = sess.run(list(OUTPUTS), {"mel": batch})
        for name, a, b in zip(OUTPUTS, tf_out, ort_out, strict=True):
            diff = float(np.max(np.abs(a - b)))
            scale = max(1.0, float(np.max(np.abs(a))))
            worst = max(worst, diff / scale)
            print(
                f"{model} {name:12s} shape {b.shape}  max|tf-onnx| = {diff:.3g}"
                f"  max|tf| = {scale:.3g}  relative {diff / scale:.3g}"
            )
        top = np.argsort(-tf_out[0].mean(0))[:5]
        labels = mconfig.MTT_LABELS if "MTT" in model else mconfig.MSD_LABELS
        print(f"{model} top-5 tags: {[labels[i] for i in top]}")
        print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")

    tags = {"mtt": list(mconfig.MTT_LABELS), "msd": list(mconfig.MSD_LABELS)}
    (args.out / "tags.json").write_text(json.dumps(tags, indent=1) + "\n", encoding="utf-8")
    print(f"worst difference / max(1, max|tf|) over all outputs: {worst:.3g}")
    if worst > TOLERANCE:
        print(f"FAILED: difference above {TOLERANCE} x max(1, max|tf|)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
