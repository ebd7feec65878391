"""Run configurations: TOML files (trainer/configs/*.toml) -> dataclasses, with `--set
section.key=value` overrides from the command line. The whole config is saved inside every
checkpoint, so a run can be resumed or evaluated without the file it started from."""

from __future__ import annotations

import json
import tomllib
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Literal

CONFIG_DIR = Path(__file__).parent / "configs"


@dataclass
class DataConfig:
    dir: str = "data/synth"
    # "segment": one 10 s segment per sample, as in paper §5.1 (video frames of segment s,
    # target segment s); "track": all frames against the target's mean.
    unit: Literal["segment", "track"] = "segment"
    # Share of samples that carry the user's words and the candidate (second turn); the rest
    # are first-turn samples (video only), so the fused model also learns the first turn.
    second_turn_prob: float = 0.8
    num_workers: int = 0


@dataclass
class TrainConfig:
    kind: Literal["musechat", "two_tower"] = "musechat"
    out_dir: str = "out/musechat"
    seed: int = 0
    batch_size: int = 64  # global: split over processes, all-gathered for the loss
    epochs: int = 10
    max_steps: int = 0  # > 0: stop there (wins over epochs)
    lr: float = 3e-4
    weight_decay: float = 0.05
    warmup_steps: int = 20
    grad_clip: float = 1.0
    loss: Literal["eq5", "clip"] = "eq5"
    temperature: float = 0.1  # paper §5.1; the initial value when learned
    learn_temperature: bool = True
    mixed_precision: Literal["no", "fp16", "bf16"] = "no"
    log_every: int = 10
    checkpoint_every: int = 0  # steps; 0: at the end of each epoch
    keep_checkpoints: int = 2
    tensorboard: bool = True
    # Fine-tune the audio encoder (paper §4.1): an AST folder or hub id; "" keeps the
    # dataset's stored (frozen) music features.
    audio_model: str = ""
    audio_lr: float = 1e-5


@dataclass
class EvalConfig:
    pool_size: int = 500  # paper §5.2
    pools: int = 20
    seed: int = 0
    batch_size: int = 64


@dataclass
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    # RecommenderConfig overrides (d_model, n_layers, dropout ...); the feature dims and
    # encoder ids come from the dataset.
    model: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text  # bare strings: --set data.dir=out/x


def _build(cls: type, raw: dict[str, Any], where: str) -> Any:
    known = {f.name: f for f in fields(cls)}
    if unknown := sorted(set(raw) - set(known)):
        raise ValueError(f"{where}: unknown entries {unknown}")
    defaults, kwargs = cls(), {}
    for name, value in raw.items():
        default = getattr(defaults, name)
        if is_dataclass(default):
            value = _build(type(default), value, f"{where}.{name}")
        kwargs[name] = value
    return cls(**kwargs)


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """`section.key=value` (JSON values, else strings) into the raw TOML dict."""
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or "." not in key:
            raise ValueError(f"--set {item!r}: expected section.key=value")
        *path, last = key.strip().split(".")
        node = raw
        for part in path:
            node = node.setdefault(part, {})
        node[last] = _parse_value(value.strip())
    return raw


def load_raw(path: str | Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    p = Path(path)
    if not p.exists() and (CONFIG_DIR / p).exists():
        p = CONFIG_DIR / p  # `--config cpu-musechat.toml` finds the shipped configs
    return tomllib.loads(p.read_text(encoding="utf-8"))


def load_run_config(path: str | Path | None = None, overrides: list[str] = ()) -> RunConfig:
    return run_config_from_dict(apply_overrides(load_raw(path), list(overrides)))


def run_config_from_dict(raw: dict[str, Any]) -> RunConfig:
    return _build(RunConfig, raw, "config")


@dataclass
class LMConfig:
    base: str = "smollm2"  # "smollm2": the packaged GGUF, dequantised; else a HF folder
    out_dir: str = "out/generator"
    seed: int = 0
    use_title: bool = True  # Table 2: title + embeddings (True) or embeddings only (False)
    use_embedding: bool = True
    chat_format: Literal["chatml", "vicuna"] = "chatml"
    n_prefix: int = 1
    projector: Literal["linear", "mlp2x_gelu"] = "linear"
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    # Paper §4.2: LoRA on the attention; names of the q/k/v/o projections in Llama-style LMs.
    lora_targets: list[str] = field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"]
    )
    max_length: int = 128  # paper §5.1
    batch_size: int = 8
    epochs: int = 1
    max_steps: int = 0
    lr: float = 2e-4
    warmup_steps: int = 10
    mixed_precision: Literal["no", "fp16", "bf16"] = "no"
    log_every: int = 10
    include_t2: bool = True  # also learn the first turn's explanation of the candidate
    train_limit: int = 0  # > 0: the first N examples only (CPU smoke runs)
    eval_limit: int = 50
    max_new_tokens: int = 48


@dataclass
class LMRunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    lm: LMConfig = field(default_factory=LMConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_lm_config(path: str | Path | None = None, overrides: list[str] = ()) -> LMRunConfig:
    return _build(LMRunConfig, apply_overrides(load_raw(path), list(overrides)), "config")
