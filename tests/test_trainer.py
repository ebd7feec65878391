"""musechat-trainer, the recommender half: model shapes and fusion, the eq. (5) loss, the
data pipeline, distributed (2 gloo processes) == single process, checkpoint resume, learning,
the Table 1 evaluation, and the engine loading the checkpoint."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from musechat_tui.models.recommender import (
    MuseChatRecommender,
    RecommenderConfig,
    TwoTowerBaseline,
    load_checkpoint,
    save_checkpoint,
)
from trainer.cli import app
from trainer.config import RunConfig, load_run_config
from trainer.loss import ContrastiveLoss, reference_eq5
from trainer.toydata import make_toy_dataset
from trainer.train import train

SMALL = ["model.d_model=32", "model.n_layers=1", "model.n_heads=4", "train.tensorboard=false"]


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_toy_dataset(tmp_path_factory.mktemp("toy"), n_train=128, n_test=64)


def run_cfg(toy: Path, out: Path, *extra: str) -> RunConfig:
    return load_run_config(None, [f"data.dir={toy}", f"train.out_dir={out}", *SMALL, *extra])


def cfg(**kw: object) -> RecommenderConfig:
    base = {
        "video_dim": 12,
        "text_dim": 10,
        "audio_dim": 8,
        "d_model": 32,
        "n_layers": 2,
        "n_heads": 16,
        "dropout": 0.0,
    }
    return RecommenderConfig(**{**base, **kw})


def inputs(b: int = 3, f: int = 5, n: int = 4, s: int = 6) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return [
        torch.randn(b, f, 12, generator=g),
        torch.ones(b, f, dtype=torch.bool),
        torch.randn(b, n, 10, generator=g),
        torch.ones(b, n, dtype=torch.bool),
        torch.randn(b, s, 8, generator=g),
        torch.ones(b, s, dtype=torch.bool),
    ]


# ---------------------------------------------------------------------------- model
def test_paper_sizes_and_output_shapes() -> None:
    m = MuseChatRecommender(RecommenderConfig())
    assert m.video_proj.out_features == 256 and len(m.text_encoder.layers) == 4
    assert m.text_to_music.num_heads == 16 and m.text_encoder.layers[0].self_attn.num_heads == 16
    small = MuseChatRecommender(cfg())
    q = small.fuse(*inputs())
    assert q.shape == (3, 32) and torch.allclose(q.norm(dim=-1), torch.ones(3))
    t = small.embed_tracks(torch.randn(7, 8))
    assert t.shape == (7, 32) and torch.allclose(t.norm(dim=-1), torch.ones(7))
    assert MuseChatRecommender(cfg(track_head="identity")).embed_tracks(
        torch.randn(2, 8)
    ).shape == (2, 8)


def test_fusion_is_eq4() -> None:
    """x^f = mean(video) + Attn(text cls, music, music) + Attn(music cls, text, text)."""
    m = MuseChatRecommender(cfg()).eval()
    v, vm, t, tm, mu, mm = inputs()
    vm[0, 3:] = False  # padded frames do not count in the mean
    tm[1, 2:] = False
    with torch.no_grad():
        video = torch.stack([m.video_proj(v[i][vm[i]]).mean(0) for i in range(3)])
        seq_t, pad_t = m._encode(t, tm, m.text_proj, m.text_cls, m.text_encoder)
        seq_m, pad_m = m._encode(mu, mm, m.music_proj, m.music_cls, m.music_encoder)
        a = m.text_to_music(seq_t[:, :1], seq_m, seq_m, key_padding_mask=pad_m)[0][:, 0]
        b = m.music_to_text(seq_m[:, :1], seq_t, seq_t, key_padding_mask=pad_t)[0][:, 0]
        want = torch.nn.functional.normalize(m.out(video + a + b), dim=-1)
        assert torch.allclose(m.fuse(v, vm, t, tm, mu, mm), want, atol=1e-5)
        # first turn: the video term alone, also for one query of a mixed batch
        first = torch.nn.functional.normalize(m.out(video), dim=-1)
        tm0, mm0 = tm.clone(), mm.clone()
        tm0[2], mm0[2] = False, False
        mixed = m.fuse(v, vm, t, tm0, mu, mm0)
        assert torch.allclose(mixed[2], first[2], atol=1e-5)
        assert torch.allclose(mixed[:2], want[:2], atol=1e-5)
        empty = m.fuse(v, vm, t[:, :0], tm[:, :0], mu[:, :0], mm[:, :0])
        assert torch.allclose(empty, first, atol=1e-5)


def test_two_tower_ignores_words_and_music_even_as_fusion_model(tmp_path: Path) -> None:
    base = TwoTowerBaseline(cfg()).eval()
    v, vm, t, tm, mu, mm = inputs()
    alone = base.fuse(v, vm, t[:, :0], tm[:, :0], mu[:, :0], mm[:, :0])
    assert torch.allclose(base.fuse(v, vm, t, tm, mu, mm), alone)
    save_checkpoint(base, tmp_path / "b.pt")
    # Loaded as the plain fusion model (what an engine does), it is still two-tower.
    plain = MuseChatRecommender(cfg()).eval()
    plain.load_state_dict(torch.load(tmp_path / "b.pt", weights_only=True)["state_dict"])
    assert torch.allclose(plain.fuse(v, vm, t, tm, mu, mm), alone, atol=1e-6)
    loaded, meta = load_checkpoint(tmp_path / "b.pt")
    assert isinstance(loaded, TwoTowerBaseline) and meta["kind"] == "two_tower"


# ---------------------------------------------------------------------------- loss
@pytest.mark.parametrize("tau", [0.1, 0.5])
def test_loss_equals_eq5_term_by_term(tau: float) -> None:
    g = torch.Generator().manual_seed(1)
    f = torch.nn.functional.normalize(torch.randn(6, 5, generator=g, dtype=torch.float64), dim=-1)
    m = torch.nn.functional.normalize(torch.randn(6, 5, generator=g, dtype=torch.float64), dim=-1)
    loss = ContrastiveLoss(tau)
    assert float(loss(f, m).detach()) == pytest.approx(reference_eq5(f, m, tau), rel=1e-5)
    assert loss.logit_scale.requires_grad and loss.temperature == pytest.approx(tau)
    clip = ContrastiveLoss(tau, kind="clip")(f, m)
    logits = f @ m.T / tau
    lab = torch.arange(6)
    ref = 0.5 * (
        torch.nn.functional.cross_entropy(logits, lab)
        + torch.nn.functional.cross_entropy(logits.T, lab)
    )
    assert float(clip) == pytest.approx(float(ref), rel=1e-5)


# ---------------------------------------------------------------------------- training
def _losses(out: Path) -> list[float]:
    return [json.loads(x)["loss"] for x in (out / "metrics.jsonl").read_text().splitlines()]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_gloo_processes_equal_one_process_on_the_global_batch(
    toy: Path, tmp_path: Path
) -> None:
    common = [
        "train.batch_size=16",
        "train.max_steps=2",
        "train.log_every=1",
        "model.dropout=0.0",
        "train.lr=0.01",
    ]
    one = tmp_path / "one"
    train(run_cfg(toy, one, *common))
    two = tmp_path / "two"
    sets = [
        a
        for x in [f"data.dir={toy}", f"train.out_dir={two}", *SMALL, *common]
        for a in ("--set", x)
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[1])}
    cmd = [
        str(Path(sys.executable).parent / "accelerate"),
        "launch",
        "--cpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--main_process_port",
        str(_free_port()),
        "-m",
        "trainer.cli",
        "train",
        *sets,
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # step 1: the loss before any update; step 2: after one DDP update
    assert _losses(two) == pytest.approx(_losses(one), rel=1e-5)
    a = torch.load(one / "model.pt", weights_only=True)["state_dict"]
    b = torch.load(two / "model.pt", weights_only=True)["state_dict"]
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-5), k


@pytest.mark.slow
def test_resume_continues_identically(toy: Path, tmp_path: Path) -> None:
    common = [
        "train.batch_size=32",
        "train.log_every=1",
        "train.checkpoint_every=3",
        "model.dropout=0.1",
    ]  # dropout on: the RNG state must be restored too
    straight = tmp_path / "straight"
    train(run_cfg(toy, straight, "train.max_steps=7", *common))
    split = tmp_path / "split"
    # Keep every checkpoint, then resume from the first and compare with the straight run.
    train(run_cfg(toy, split, "train.max_steps=7", *common, "train.keep_checkpoints=5"))
    ckpts = sorted((split / "checkpoints").glob("step-*"))
    assert [c.name for c in ckpts] == ["step-0000003", "step-0000006", "step-0000007"]
    summary = train(run_cfg(toy, split, "train.max_steps=7", *common), resume=ckpts[0])
    assert summary["steps"] == 7
    assert _losses(split) == _losses(straight)
    a = torch.load(straight / "model.pt", weights_only=True)
    b = torch.load(split / "model.pt", weights_only=True)
    assert a["config"] == b["config"] and a["meta"]["run"]["train"]["max_steps"] == 7
    for k in a["state_dict"]:
        assert torch.equal(a["state_dict"][k], b["state_dict"][k]), k


@pytest.fixture(scope="module")
def trained(toy: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("runs")
    common = [
        "train.batch_size=32",
        "train.epochs=25",
        "train.lr=0.002",
        "train.log_every=20",
        "model.dropout=0.0",
        "train.warmup_steps=5",
    ]
    train(run_cfg(toy, out / "musechat", *common))
    train(run_cfg(toy, out / "base", *common, "train.kind=two_tower"))
    return {"model": out / "musechat" / "model.pt", "baseline": out / "base" / "model.pt"}


@pytest.mark.slow
def test_training_beats_chance_and_evaluate_prints_table1(
    toy: Path, trained: dict[str, Path]
) -> None:
    runner = CliRunner()
    args = [
        "evaluate",
        "--data",
        str(toy),
        "--model",
        str(trained["model"]),
        "--baseline",
        str(trained["baseline"]),
        "--pool-size",
        "32",
        "--no-zero-shot",
    ]
    res = runner.invoke(app, [*args, "--json"])
    assert res.exit_code == 0, res.output
    table = json.loads(res.stdout)
    rows = {r["model"]: r for r in table["rows"]}
    assert list(rows) == [
        "MVP-style baseline (two-tower)",
        "MuseChat (1st turn)",
        "MuseChat (2nd turn)",
        "Chance",
    ]
    assert table["pools"] == 2 and table["pool_sizes"] == [32, 32]
    chance = rows["Chance"]
    assert chance["R@1"] == pytest.approx(100 / 32) and chance["MR"] == pytest.approx(16.5)
    second, first = rows["MuseChat (2nd turn)"], rows["MuseChat (1st turn)"]
    assert second["R@1"] > 8 * chance["R@1"]  # the toy set makes the second turn easy
    assert (
        second["R@1"] > first["R@1"]
        and rows["MVP-style baseline (two-tower)"]["R@1"] > 2 * chance["R@1"]
    )
    assert second["SR@10"] >= max(second["R@10"], first["R@10"])
    text = runner.invoke(app, args)
    assert text.exit_code == 0
    for word in ("Model", "Train Modality", "MR", "R@1", "R@5", "R@10", "SR@10", "Chance"):
        assert word in text.output


def test_engine_loads_the_trainer_checkpoint(tmp_path: Path) -> None:
    from musechat_tui.engine import learned

    for model in (MuseChatRecommender(cfg()), TwoTowerBaseline(cfg())):
        save_checkpoint(model.eval(), tmp_path / "m.pt", {"step": 1})
        engine, meta = learned.load_model(tmp_path / "m.pt")
        assert type(engine) is type(model) and engine.cfg == model.cfg and meta["step"] == 1
        v, vm, t, tm, mu, mm = (x[:1] for x in inputs())  # the engine scores one query
        with torch.no_grad():
            assert torch.allclose(
                engine.fuse(v, vm, t, tm, mu, mm), model.fuse(v, vm, t, tm, mu, mm)
            )


@pytest.mark.slow
def test_zero_shot_row_reads_the_test_videos(tmp_path: Path) -> None:
    import media_factory as mf

    from trainer.evaluate import format_table1, table1

    root = make_toy_dataset(tmp_path / "ds", n_train=32, n_test=6)
    (root / "video").mkdir()
    for i in range(32, 38):  # the toy quartets name video/<i>.mp4 relative to the dataset
        mf.make_video(root / "video" / f"{i}.mp4", duration=2.0, fps=10, audio_freq=None)
    result = table1(root, None, None, pool_size=6, pools=1)
    row = result["rows"][-1]
    assert row["model"].startswith("Engine zero-shot scorer")
    assert 1.0 <= row["MR"] <= 6.0 and 0.0 <= row["R@1"] <= 100.0
    assert row["SR@10"] == 100.0  # six tracks: every one is in the top ten
    assert "Engine zero-shot" in format_table1(result)


@pytest.mark.slow
def test_audio_encoder_is_fine_tuned_when_configured(tmp_path: Path) -> None:
    """train.audio_model = an AST folder: music is decoded from the files and goes through the
    AST inside the step; the AST's weights change and are saved where the checkpoint says."""
    import media_factory as mf
    from transformers import ASTConfig, ASTFeatureExtractor, ASTModel

    from musechat_tui.encoders.ast import ASTAudioEncoder

    ast_dir = tmp_path / "tiny-ast"
    torch.manual_seed(0)
    ASTModel(
        ASTConfig(
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=64,
            num_mel_bins=32,
            max_length=128,
        )
    ).save_pretrained(ast_dir)
    ASTFeatureExtractor(num_mel_bins=32, max_length=128).save_pretrained(ast_dir)
    root = make_toy_dataset(tmp_path / "ds", n_train=8, n_test=2)
    (root / "music").mkdir()
    for i in range(10):
        for kind, f in (("target", 220.0 * (1 + i % 4)), ("candidate", 330.0 + 40 * i)):
            mf.make_sine(root / "music" / f"{kind}-{i}.ogg", f, duration=12.0)
    out = tmp_path / "run"
    summary = train(
        run_cfg(
            root,
            out,
            f"train.audio_model={ast_dir}",
            "train.batch_size=4",
            "train.max_steps=2",
            "train.audio_lr=0.01",
            "model.dropout=0.0",
        )
    )
    assert summary["steps"] == 2
    model, meta = load_checkpoint(out / "model.pt")
    assert meta["synthetic_videos"] is True  # the toy set is visualiser-like: the engine sees it
    assert model.cfg.audio_dim == 32 and model.cfg.audio_encoder.startswith("ast:")
    tuned = ASTAudioEncoder(str(out / "audio_encoder"))
    assert tuned.id == model.cfg.audio_encoder  # a catalog indexed with it is accepted
    before = ASTModel.from_pretrained(ast_dir).state_dict()
    after = ASTModel.from_pretrained(out / "audio_encoder").state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    # Evaluation runs the fine-tuned AST on the test tracks' audio, not the stored features.
    from trainer.evaluate import table1

    rows = table1(root, out / "model.pt", None, pool_size=2, zero_shot=False)["rows"]
    assert [r["model"] for r in rows] == ["MuseChat (1st turn)", "MuseChat (2nd turn)", "Chance"]
