"""The recommender's training loop (paper §4.1, §5.1) with accelerate.

One script for one CPU, `accelerate launch --cpu --num_processes N` (gloo), and GPUs on one
or many nodes. Per step: each process encodes its share of the global batch, the loss
all-gathers the embeddings (trainer/loss.py), DDP averages the gradients.

Output folder:
  model.pt                the runtime checkpoint (musechat_tui/models/recommender.py contract)
  metrics.jsonl           one line per logged step (loss, temperature, lr, samples/s)
  tb/                     the same in TensorBoard
  config.json             the run's full config
  checkpoints/step-N/     accelerate state (model, optimizer, scheduler, RNGs) + state.json
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from musechat_tui.dataset import Manifest
from musechat_tui.models.recommender import (
    MuseChatRecommender,
    RecommenderConfig,
    build_model,
    save_checkpoint,
)
from trainer.audio_ft import AUDIO_DIR, AudioTower, WaveSampler, encoder_id, music_from_waves
from trainer.config import RunConfig, run_config_from_dict
from trainer.data import GlobalBatchSampler, QuartetDataset, dataset_features, make_collate
from trainer.loss import ContrastiveLoss

STATE_FILE = "state.json"


class TrainModule(nn.Module):
    """Model and loss in one module, so DDP sees the temperature as one of its parameters and
    the loss (with its all-gather) runs inside the wrapped forward."""

    def __init__(
        self, model: MuseChatRecommender, loss: ContrastiveLoss, audio: nn.Module | None = None
    ) -> None:
        super().__init__()
        self.model, self.loss, self.audio = model, loss, audio

    def forward(self, batch: dict[str, Any]) -> torch.Tensor:
        if self.audio is not None:
            target, music, music_mask = music_from_waves(self.audio, batch)
        else:
            target, music, music_mask = batch["target"], batch["music"], batch["music_mask"]
        q = self.model.fuse(
            batch["video"],
            batch["video_mask"],
            batch["text"],
            batch["text_mask"],
            music,
            music_mask,
        )
        return self.loss(q, self.model.embed_tracks(target))


def model_config(cfg: RunConfig) -> RecommenderConfig:
    feats = dataset_features(Path(cfg.data.dir))
    base: dict[str, Any] = {
        "video_dim": feats.video_dim,
        "text_dim": feats.text_dim,
        "audio_dim": feats.audio_dim,
        "temperature": cfg.train.temperature,
    }
    for modality, key in (
        ("image", "image_encoder"),
        ("text", "text_encoder"),
        ("audio", "audio_encoder"),
    ):
        if modality in feats.encoders:
            base[key] = feats.encoders[modality]
    return RecommenderConfig.from_dict({**base, **cfg.model})


def latest_checkpoint(out_dir: Path) -> Path | None:
    ckpts = sorted((out_dir / "checkpoints").glob("step-*"))
    done = [c for c in ckpts if (c / STATE_FILE).exists()]
    return done[-1] if done else None


def lr_lambda(warmup: int, total: int) -> Callable[[int], float]:
    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))  # cosine to zero

    return f


class MetricsLog:
    """JSONL always; TensorBoard when it is installed and wanted. Main process only."""

    def __init__(self, out_dir: Path, tensorboard: bool, enabled: bool) -> None:
        self.enabled = enabled
        self.path = out_dir / "metrics.jsonl"
        self.tb = None
        if enabled and tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(out_dir / "tb"))
            except ImportError:
                self.tb = None

    def truncate(self, step: int) -> None:
        if self.enabled and self.path.exists():
            lines = self.path.read_text(encoding="utf-8").splitlines()
            keep = [x for x in lines if x.strip() and json.loads(x)["step"] <= step]
            self.path.write_text("".join(x + "\n" for x in keep), encoding="utf-8")

    def log(self, step: int, values: dict[str, float]) -> None:
        if not self.enabled:
            return
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"step": step, **values}) + "\n")
        if self.tb is not None:
            for k, v in values.items():
                self.tb.add_scalar(f"train/{k}", v, step)
            self.tb.flush()

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def train(cfg: RunConfig, resume: str | Path | None = None) -> dict[str, Any]:
    """Train; returns a summary (steps, time, throughput, final loss, checkpoint path)."""
    from accelerate import Accelerator
    from accelerate.utils import DistributedDataParallelKwargs, set_seed

    tc = cfg.train
    out_dir = Path(tc.out_dir)
    ddp = DistributedDataParallelKwargs(find_unused_parameters=tc.kind == "musechat")
    acc = Accelerator(mixed_precision=tc.mixed_precision, kwargs_handlers=[ddp])
    set_seed(tc.seed)  # the same initial weights in every process
    mcfg = model_config(cfg)
    audio, waves = None, None
    if tc.audio_model:
        if cfg.data.unit != "segment":
            raise ValueError("fine-tuning the audio encoder needs data.unit = 'segment'")
        audio = AudioTower(tc.audio_model)
        waves = WaveSampler(Path(cfg.data.dir), audio.sample_rate)
        mcfg.audio_dim, mcfg.audio_encoder = audio.dim, encoder_id(out_dir)
    model = build_model(mcfg, tc.kind)
    loss = ContrastiveLoss(tc.temperature, tc.learn_temperature, tc.loss)
    module = TrainModule(model, loss, audio)

    ds = QuartetDataset(
        Path(cfg.data.dir),
        "train",
        unit=cfg.data.unit,
        # The baseline never sees words or a candidate: its samples are all first-turn.
        second_turn_prob=cfg.data.second_turn_prob if tc.kind == "musechat" else 0.0,
        seed=tc.seed,
        waves=waves,
    )
    # A corpus smaller than one batch trains on what it has (rounded to the process count).
    batch_size = min(tc.batch_size, len(ds) // acc.num_processes * acc.num_processes)
    sampler = GlobalBatchSampler(
        len(ds), batch_size, rank=acc.process_index, world=acc.num_processes, seed=tc.seed
    )
    loader = torch.utils.data.DataLoader(
        ds,
        batch_sampler=sampler,
        collate_fn=make_collate(mcfg.text_dim, mcfg.audio_dim, mcfg.video_dim),
        num_workers=cfg.data.num_workers,
        # Its own generator: making an iterator draws a seed, and drawing it from the global
        # RNG would shift the dropout masks of a resumed run against an uninterrupted one.
        generator=torch.Generator().manual_seed(tc.seed),
    )
    steps_per_epoch = len(ds) // batch_size
    total = tc.max_steps or tc.epochs * steps_per_epoch
    params = [p for p in module.parameters() if p.requires_grad]
    tower = {id(p) for p in audio.parameters()} if audio is not None else set()
    own = [p for p in params if id(p) not in tower]
    groups = [
        {"params": [p for p in own if p.ndim >= 2], "weight_decay": tc.weight_decay},
        # biases, norms, cls tokens and the temperature are not decayed
        {"params": [p for p in own if p.ndim < 2], "weight_decay": 0.0},
    ]
    if audio is not None:  # a pretrained encoder moves slowly
        groups.append({"params": list(audio.parameters()), "lr": tc.audio_lr, "weight_decay": 0.0})
    opt = torch.optim.AdamW(groups, lr=tc.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(tc.warmup_steps, total))
    module, opt = acc.prepare(module, opt)
    acc.register_for_checkpointing(sched)  # stepped once per step by us, not by accelerate

    state = {"step": 0, "epoch": 0, "batch": 0}
    if resume == "auto":
        resume = latest_checkpoint(out_dir)
    if resume:
        acc.load_state(str(resume))
        state = json.loads((Path(resume) / STATE_FILE).read_text())["progress"]
    if acc.is_main_process:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
    metrics = MetricsLog(out_dir, tc.tensorboard, acc.is_main_process)
    if resume:
        metrics.truncate(state["step"])  # the steps after the checkpoint are redone
    raw = acc.unwrap_model(module)

    saved_at = -1

    def checkpoint() -> None:
        nonlocal saved_at
        saved_at = state["step"]
        ckpt = out_dir / "checkpoints" / f"step-{state['step']:07d}"
        acc.save_state(str(ckpt))
        if acc.is_main_process:
            doc = {"progress": state, "config": cfg.to_dict(), "model": asdict(mcfg)}
            (ckpt / STATE_FILE).write_text(json.dumps(doc, indent=2))
            write_model(raw, out_dir / "model.pt", cfg, state)
            if raw.audio is not None:
                raw.audio.save(out_dir / AUDIO_DIR)
            old = sorted((out_dir / "checkpoints").glob("step-*"))[: -tc.keep_checkpoints]
            for path in old:
                shutil.rmtree(path, ignore_errors=True)
        acc.wait_for_everyone()

    module.train()
    t0, samples, window = time.perf_counter(), 0, []
    last_loss = float("nan")
    while state["step"] < total:
        ds.epoch = sampler.epoch = state["epoch"]
        sampler.start = state["batch"]
        for batch in loader:
            t_step = time.perf_counter()
            batch = {k: v.to(acc.device) if torch.is_tensor(v) else v for k, v in batch.items()}
            value = module(batch)
            acc.backward(value)
            if tc.grad_clip > 0:
                acc.clip_grad_norm_(params, tc.grad_clip)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            state["step"] += 1
            state["batch"] += 1
            samples += batch_size
            window.append(time.perf_counter() - t_step)
            # The mean over processes is the global-batch loss (equal shares per process).
            last_loss = float(acc.reduce(value.detach(), reduction="mean"))
            if state["step"] % tc.log_every == 0 or state["step"] == total:
                metrics.log(
                    state["step"],
                    {
                        "epoch": state["epoch"],
                        "loss": last_loss,
                        "temperature": raw.loss.temperature,
                        "lr": sched.get_last_lr()[0],
                        "samples_per_s": batch_size * len(window) / sum(window),
                    },
                )
                window = []
            if tc.checkpoint_every and state["step"] % tc.checkpoint_every == 0:
                checkpoint()
            if state["step"] >= total:
                break
        else:
            state["epoch"] += 1
            state["batch"] = 0
            if not tc.checkpoint_every:
                checkpoint()
    elapsed = time.perf_counter() - t0
    if saved_at != state["step"]:
        checkpoint()
    metrics.close()
    return {
        "steps": state["step"],
        "epochs": state["step"] / steps_per_epoch,
        "train_samples": len(ds),
        "processes": acc.num_processes,
        "batch_size": batch_size,
        "time_s": elapsed,
        "samples_per_s": samples / elapsed if elapsed else 0.0,
        "final_loss": last_loss,
        "temperature": raw.loss.temperature,
        "model": str(out_dir / "model.pt"),
    }


def _synthetic_dataset(data_dir: str | Path) -> bool | None:
    try:
        return bool(Manifest.load(Path(data_dir)).synthetic)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_model(module: TrainModule, path: Path, cfg: RunConfig, state: dict[str, int]) -> None:
    model = module.model
    model.cfg.temperature = module.loss.temperature  # the learned value, for the record
    meta = {
        "step": state["step"],
        "dataset": str(cfg.data.dir),
        # the engine reads this: a model that only saw visualiser videos does not rank real
        # footage unless the user chooses it (setting scorer)
        "synthetic_videos": _synthetic_dataset(cfg.data.dir),
        "run": cfg.to_dict(),
    }
    save_checkpoint(model, path, meta)


def config_from_checkpoint(ckpt_dir: Path) -> RunConfig:
    return run_config_from_dict(json.loads((ckpt_dir / STATE_FILE).read_text())["config"])
