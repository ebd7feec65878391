"""musechat-trainer: training and evaluation of MuseChat's models (paper §4-§5)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer

from musechat_tui.cli_support import (
    ConfigOpt,
    JsonOpt,
    ThreadsOpt,
    print_json,
    reports_errors,
    say,
    settings_from_flags,
)

app = typer.Typer(
    help=(
        "Train MuseChat's recommender and explanation LLM, export them, "
        "and run the paper's evaluations."
    ),
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def _group() -> None:
    """Keeps the tool a group of subcommands even while it has only one."""


@app.command()
@reports_errors
def check(config: ConfigOpt = None, threads: ThreadsOpt = None, json_out: JsonOpt = False) -> None:
    """Load the configured encoders and show their ids and dimensions, and the torch and
    accelerate environment (devices, process count) that training would use."""
    import torch
    from accelerate import PartialState

    from musechat_tui.encoders import build_audio_encoder, build_image_encoder, build_text_encoder

    settings = settings_from_flags(config, threads=threads)
    state = PartialState()
    report = {
        "torch": torch.__version__,
        "cuda_devices": torch.cuda.device_count(),
        "processes": state.num_processes,
        "device": str(state.device),
        "encoders": {},
    }
    for modality, build in (
        ("image", build_image_encoder),
        ("text", build_text_encoder),
        ("audio", build_audio_encoder),
    ):
        enc = build(settings)
        report["encoders"][modality] = {"id": enc.id, "dim": enc.dim}
    if json_out:
        print_json(report)
        return
    say(
        f"torch {report['torch']}, {report['cuda_devices']} CUDA device(s), "
        f"{report['processes']} process(es) on {report['device']}"
    )
    for modality, enc in report["encoders"].items():
        say(f"{modality:>5}: {enc['id']} ({enc['dim']}-d)")


SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set", help="Override a config entry: section.key=value (JSON value).", show_default=False
    ),
]
RunConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="Run config TOML (a path, or a name in trainer/configs/).",
        show_default=False,
    ),
]


def _fail(exc: Exception) -> NoReturn:
    say(f"error: {exc}", err=True)
    raise typer.Exit(1)


@app.command()
@reports_errors
def train(
    config: RunConfigOpt = None,
    set_: SetOpt = None,
    resume: Annotated[
        str | None,
        typer.Option(help="A checkpoints/step-N folder, or 'auto' for the latest in out_dir."),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Train the recommender (train.kind = musechat) or the two-tower baseline (two_tower).
    Runs as is on one CPU; `accelerate launch [--cpu --num_processes N] -m trainer.cli train`
    spreads it over processes, GPUs and nodes."""
    from trainer.config import load_run_config
    from trainer.train import train as run

    try:
        cfg = load_run_config(config, set_ or [])
        summary = run(cfg, resume)
    except (ValueError, FileNotFoundError) as exc:
        _fail(exc)
    from accelerate import PartialState

    if not PartialState().is_main_process:
        return
    if json_out:
        print_json(summary)
        return
    say(
        f"{summary['steps']} steps ({summary['epochs']:.1f} epochs) in {summary['time_s']:.1f} s, "
        f"{summary['samples_per_s']:.1f} samples/s on {summary['processes']} process(es); "
        f"loss {summary['final_loss']:.4f}, temperature {summary['temperature']:.4f}\n"
        f"model: {summary['model']}"
    )


@app.command()
@reports_errors
def evaluate(
    data: Annotated[Path, typer.Option(help="Dataset folder (its test split is used).")],
    model: Annotated[Path | None, typer.Option(help="MuseChat model.pt.")] = None,
    baseline: Annotated[Path | None, typer.Option(help="Two-tower baseline model.pt.")] = None,
    pool_size: Annotated[int, typer.Option(help="Tracks per pool (at least).")] = 500,
    pools: Annotated[int, typer.Option(help="Number of pools.")] = 20,
    seed: Annotated[int, typer.Option(help="Seed of the pool split.")] = 0,
    zero_shot: Annotated[
        bool, typer.Option(help="Add the engine's zero-shot scorer as a row.")
    ] = True,
    limit: Annotated[int | None, typer.Option(help="Use the first N test videos.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Paper §5.2: ranking in pools of test tracks; prints Table 1."""
    from trainer.evaluate import format_table1, table1

    try:
        result = table1(
            data,
            model,
            baseline,
            pool_size=pool_size,
            pools=pools,
            seed=seed,
            zero_shot=zero_shot,
            limit=limit,
        )
    except (ValueError, FileNotFoundError) as exc:
        _fail(exc)
    if json_out:
        print_json(result)
    else:
        say(format_table1(result))


@app.command("toy-data")
@reports_errors
def toy_data(
    out: Annotated[Path, typer.Argument(help="Folder to write the dataset to.")],
    n_train: int = 192,
    n_test: int = 64,
    seed: int = 0,
) -> None:
    """Write a small dataset with a known learnable structure (smoke tests, CPU configs)."""
    from trainer.toydata import make_toy_dataset

    make_toy_dataset(out, n_train=n_train, n_test=n_test, seed=seed)
    say(f"wrote {n_train} train and {n_test} test quartets to {out}")


@app.command("train-lm")
@reports_errors
def train_lm(config: RunConfigOpt = None, set_: SetOpt = None, json_out: JsonOpt = False) -> None:
    """Train the sentence generator (paper §4.2): LoRA + music projector on a causal LM.
    lm.use_title=false trains Table 2's embeddings-only row."""
    from trainer.config import load_lm_config
    from trainer.lm import train_lm as run

    try:
        summary = run(load_lm_config(config, set_ or []))
    except (ValueError, FileNotFoundError) as exc:
        _fail(exc)
    if json_out:
        print_json(summary)
        return
    say(
        f"{summary['steps']} steps on {summary['examples']} examples in {summary['time_s']:.1f} s "
        f"({summary['samples_per_s']:.1f} samples/s); loss {summary['first_loss']:.3f} -> "
        f"{summary['final_loss']:.3f}; saved to {summary['out']}"
    )


@app.command("eval-lm")
@reports_errors
def eval_lm(
    data: Annotated[Path, typer.Option(help="Dataset folder (its test split is used).")],
    run: Annotated[
        list[Path] | None, typer.Option(help="A train-lm output folder (repeatable).")
    ] = None,
    frozen: Annotated[
        str | None,
        typer.Option(help="Add the frozen-LM row for this base ('smollm2' or a HF folder)."),
    ] = None,
    limit: Annotated[int, typer.Option(help="Test explanations to generate.")] = 50,
    max_new_tokens: int = 48,
    json_out: JsonOpt = False,
) -> None:
    """Paper §5.3: Table 2 (BERTScore-style F1 with MiniLM, BLEU, ROUGE-L)."""
    from trainer.eval_lm import format_table2, table2

    try:
        result = table2(
            data, list(run or []), frozen_base=frozen, limit=limit, max_new_tokens=max_new_tokens
        )
    except (ValueError, FileNotFoundError) as exc:
        _fail(exc)
    if json_out:
        print_json(result)
    else:
        say(format_table2(result))


@app.command()
@reports_errors
def export(
    run: Annotated[Path, typer.Option(help="A train-lm output folder.")],
    out: Annotated[Path, typer.Option(help="Folder for the GGUF and the projector.")],
    outtype: Annotated[str, typer.Option(help="GGUF type: f32, f16, bf16, q8_0.")] = "f16",
    keep_hf: Annotated[bool, typer.Option(help="Keep the merged transformers model.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Merge the LoRA, convert to GGUF with llama.cpp's converter, save the projector beside."""
    from trainer.export import export as run_export

    try:
        result = run_export(run, out, outtype, keep_hf)
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        _fail(exc)
    if json_out:
        print_json(result)
    else:
        say(f"wrote {out / result['gguf']} and {out / result['projector']}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
