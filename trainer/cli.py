"""musechat-trainer: training and evaluation of MuseChat's models (paper §4-§5)."""

from __future__ import annotations

import typer

from musechat_tui.cli_support import (
    ConfigOpt,
    JsonOpt,
    ThreadsOpt,
    print_json,
    reports_errors,
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
    typer.echo(
        f"torch {report['torch']}, {report['cuda_devices']} CUDA device(s), "
        f"{report['processes']} process(es) on {report['device']}"
    )
    for modality, enc in report["encoders"].items():
        typer.echo(f"{modality:>5}: {enc['id']} ({enc['dim']}-d)")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
