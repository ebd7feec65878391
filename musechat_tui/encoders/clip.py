"""CLIP image and text towers through transformers (e.g. `openai/clip-vit-base-patch32`).

No CLIP weights ship in a PyPI package, so this is for users who have a CLIP checkpoint: a local
folder (from `save_pretrained` or a hub snapshot) or a hub id with network access. The local
folder / HF cache is tried first, the hub only after that. Any failure becomes a
ModelLoadError naming the model and the cause, so the CLI can print it without a traceback.

Both towers load from a full CLIPModel checkpoint (or a tower-only one) and share its
projection space: image and text vectors are `projection_dim`-d and L2-normalised.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from musechat_tui.encoders.base import ImageEncoder, TextEncoder, TokenFeatures
from musechat_tui.encoders.torch_utils import (
    batched,
    check_texts,
    freeze,
    l2_normalize,
    pad_token_features,
    quiet_transformers,
    set_torch_threads,
    to_numpy,
)
from musechat_tui.errors import ModelLoadError

if TYPE_CHECKING:
    import torch

HINT = (
    "set clip_model to a local folder that holds the CLIP files (config.json, weights, "
    "tokenizer and preprocessor files), or use the default encoders "
    "(image_encoder = 'efficientnet-lite0', text_encoder = 'minilm')"
)


def _looks_like_path(model: str) -> bool:
    """A hub id is 'name' or 'owner/name'; anything else (absolute, ./, ~, deeper) is a path."""
    return (
        Path(model).expanduser().exists()
        or model.startswith((".", "~", "/", "\\"))
        or Path(model).is_absolute()
        or model.count("/") > 1
    )


def _short(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def model_id(prefix: str, model: str) -> str:
    """Stable id for catalogs: the hub id, or the folder name of a local checkpoint."""
    name = Path(model).expanduser().name if _looks_like_path(model) else model
    return f"{prefix}:{name}"


def _load(model: str, loaders: dict[str, Any]) -> dict[str, Any]:
    """Call each `loaders[name](source, **kw)` on the local copy first, then the hub.

    Returns the loaded objects by name; raises ModelLoadError with the cause otherwise.
    """
    if not isinstance(model, str) or not model.strip():
        raise ModelLoadError(f"CLIP model: no model given; {HINT}")
    is_path = _looks_like_path(model)
    source = str(Path(model).expanduser()) if is_path else model
    if is_path and not Path(source).is_dir():
        problem = "is not a folder" if Path(source).exists() else "folder does not exist"
        raise ModelLoadError(f"CLIP model '{model}': {problem}; {HINT}")
    # local folder / HF cache first: no network wait when the files are already here
    attempts = [True] if is_path else [True, False]
    cause: BaseException | None = None
    for local_only in attempts:
        try:
            with quiet_transformers():
                return {
                    name: load(source, local_files_only=local_only)
                    for name, load in loaders.items()
                }
        except Exception as exc:
            cause = exc
    assert cause is not None
    where = "local folder" if is_path else "hub id; tried the local cache, then the hub"
    raise ModelLoadError(
        f"CLIP model '{model}' ({where}) could not be loaded: "
        f"{type(cause).__name__}: {_short(cause)}; {HINT}"
    ) from cause


def _load_tower(cls: Any, tower: str) -> Any:
    """A loader for one CLIP tower ("vision_config" or "text_config") that refuses silently
    random weights."""

    def load(source: str, **kw: Any) -> Any:
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(source, **kw)
        if config.model_type == "clip":
            # a full CLIPModel checkpoint: the tower's sub-config may lack the shared
            # projection size (transformers would then build a 512-d projection and fail)
            sub = getattr(config, tower)
            sub.projection_dim = config.projection_dim
            config = sub
        model, info = cls.from_pretrained(source, config=config, output_loading_info=True, **kw)
        missing = [k for k in info.get("missing_keys", []) if "position_ids" not in k]
        if missing:
            raise ValueError(
                f"checkpoint lacks {len(missing)} weights of {cls.__name__} "
                f"(e.g. {sorted(missing)[0]}): not a CLIP checkpoint?"
            )
        return model

    return load


def _image_processor_class() -> Any:
    # transformers 5 split CLIPImageProcessor (torchvision, which does not import beside
    # the CPU torch here) from CLIPImageProcessorPil; 4.x has only the PIL one.
    try:
        from transformers import CLIPImageProcessorPil

        return CLIPImageProcessorPil
    except ImportError:
        from transformers import CLIPImageProcessor

        return CLIPImageProcessor


class ClipImageEncoder(ImageEncoder):
    """(N, H, W, 3) uint8 RGB frames -> (N, projection_dim) unit image embeddings."""

    def __init__(self, model: str, batch_size: int = 16, threads: int | None = None) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = batch_size
        set_torch_threads(threads)
        from transformers import CLIPVisionModelWithProjection

        loaded = _load(
            model,
            {
                "model": _load_tower(CLIPVisionModelWithProjection, "vision_config"),
                "processor": _image_processor_class().from_pretrained,
            },
        )
        self._model = freeze(loaded["model"])
        self._processor = loaded["processor"]
        self.model = model
        self.id = model_id("clip-image", model)
        self.dim = int(self._model.config.projection_dim)

    def encode(self, frames: np.ndarray) -> np.ndarray:
        import torch

        if isinstance(frames, np.ndarray) and (frames.ndim != 4 or frames.shape[-1] != 3):
            raise ValueError(f"frames must be (N, H, W, 3) RGB, got shape {frames.shape}")
        out = []
        with torch.inference_mode():
            for chunk in batched(frames, self.batch_size):
                images = [np.asarray(f, dtype=np.uint8) for f in chunk]
                pixels = self._processor(images=images, return_tensors="pt")["pixel_values"]
                embeds = self._model(pixel_values=pixels).image_embeds
                out.append(to_numpy(l2_normalize(embeds)))
        if not out:
            return np.zeros((0, self.dim), np.float32)
        return np.concatenate(out)


class ClipTextEncoder(TextEncoder):
    """Sentences -> (N, projection_dim) unit text embeddings; tokens -> last hidden states."""

    def __init__(self, model: str, batch_size: int = 16, threads: int | None = None) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = batch_size
        set_torch_threads(threads)
        from transformers import CLIPTextModelWithProjection, CLIPTokenizer

        loaded = _load(
            model,
            {
                "model": _load_tower(CLIPTextModelWithProjection, "text_config"),
                "tokenizer": CLIPTokenizer.from_pretrained,
            },
        )
        self._model = freeze(loaded["model"])
        self._tokenizer = loaded["tokenizer"]
        self.model = model
        self.id = model_id("clip-text", model)
        config = self._model.config
        self.dim = int(config.projection_dim)
        self.token_dim = int(config.hidden_size)
        # CLIP's position table is short (77 tokens): truncate to it
        self.max_tokens = min(
            int(config.max_position_embeddings),
            int(getattr(self._tokenizer, "model_max_length", 10**9) or 10**9),
        )

    def _run(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        batch = self._tokenizer(
            list(texts),
            padding=True,
            truncation=True,
            max_length=self.max_tokens,
            return_tensors="pt",
        )
        out = self._model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        return out.text_embeds, out.last_hidden_state, batch["attention_mask"]

    def encode(self, texts: list[str]) -> np.ndarray:
        import torch

        out = []
        with torch.inference_mode():
            for chunk in batched(check_texts(texts), self.batch_size):
                embeds, _, _ = self._run(chunk)
                out.append(to_numpy(l2_normalize(embeds)))
        if not out:
            return np.zeros((0, self.dim), np.float32)
        return np.concatenate(out)

    def encode_tokens(self, texts: list[str]) -> TokenFeatures:
        import torch

        parts = []
        with torch.inference_mode():
            for chunk in batched(check_texts(texts), self.batch_size):
                _, hidden, mask = self._run(chunk)
                hidden = hidden * mask.unsqueeze(-1).to(hidden.dtype)
                parts.append((to_numpy(hidden), mask.numpy().astype(bool)))
        return pad_token_features(parts, self.token_dim)
