"""One typed settings object, layered: defaults < TOML file < MUSECHAT_* env vars < CLI flags.

The TOML file is `config.toml` in the platformdirs config dir (or the file named by
MUSECHAT_CONFIG). Data (catalogs, sessions, models) lives in the platformdirs data dir
unless `data_dir` says otherwise. API keys are never settings: they come from the
environment only, so they are never written to disk.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, get_args

import platformdirs
from pydantic import Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from musechat_tui.errors import ConfigError

if TYPE_CHECKING:
    from musechat_tui.export.mixdown import MixSettings

APP_NAME = "musechat"
# How an export treats the video's own sound; auto: duck when it has sound, else replace.
# The one list of the choices: the setting, the command line and the app's `m` key use it.
ExportModeChoice = Literal["auto", "duck", "mix", "replace"]
EXPORT_MODE_CHOICES: tuple[str, ...] = get_args(ExportModeChoice)
REPO_DATA_DIR = Path(__file__).resolve().parents[1] / "data"


def default_config_file() -> Path:
    return Path(
        os.environ.get("MUSECHAT_CONFIG")
        or Path(platformdirs.user_config_dir(APP_NAME)) / "config.toml"
    )


def user_cache_dir() -> Path:
    """Derived files that any run may rebuild (fixed text vectors, llama.cpp's converter,
    dequantised models): the platformdirs cache dir."""
    return Path(platformdirs.user_cache_dir(APP_NAME))


class Settings(BaseSettings):
    """Every knob of MuseChat. Field docs double as help text."""

    model_config = SettingsConfigDict(env_prefix="MUSECHAT_", extra="forbid", validate_default=True)
    # The TOML layer; set by load_settings before construction.
    config_file: ClassVar[Path] = default_config_file()

    data_dir: Path = Field(
        default_factory=lambda: Path(platformdirs.user_data_dir(APP_NAME)),
        description="Where catalogs, sessions and models are stored.",
    )
    catalog_dir: Path | None = Field(
        None, description="Music catalog folder (default: DATA_DIR/catalog)."
    )

    image_encoder: Literal["efficientnet-lite0", "clip"] = Field(
        "efficientnet-lite0", description="Video frame encoder."
    )
    text_encoder: Literal["minilm", "clip"] = Field("minilm", description="Text encoder.")
    audio_encoder: Literal["musicnn", "ast"] = Field("musicnn", description="Music encoder.")
    clip_model: str = Field(
        "openai/clip-vit-base-patch32", description="CLIP local folder or hub id (when chosen)."
    )
    ast_model: str = Field(
        "MIT/ast-finetuned-audioset-10-10-0.4593",
        description="AST local folder or hub id (when chosen).",
    )
    musicnn_dir: Path = Field(
        REPO_DATA_DIR / "musicnn", description="Folder of the musicnn ONNX models."
    )
    recommender_checkpoint: Path | None = Field(
        None,
        description="Trained recommender checkpoint (default: DATA_DIR/models/recommender.pt).",
    )
    scorer: Literal["auto", "zero-shot", "learned"] = Field(
        "auto",
        description="Who ranks the tracks. auto: a configured recommender_checkpoint, else "
        "the zero-shot scorer (a checkpoint found in DATA_DIR/models is used unless it was "
        "trained on synthetic visualiser videos only); learned: the checkpoint, or an error.",
    )
    llm_model: Path | None = Field(
        None, description="GGUF file of the explanation LLM (default: packaged SmolLM2)."
    )
    llm_projector: Path | None = Field(
        None,
        description="Projector of a trained generator (musechat-trainer export); default: "
        "projector.safetensors beside llm_model, when there is one.",
    )
    openai_base_url: str | None = Field(
        None, description="OpenAI-compatible endpoint for explanations."
    )
    openai_model: str | None = Field(
        None, description="Model name at the OpenAI-compatible endpoint."
    )
    explainer: Literal["auto", "llama", "openai", "template"] = Field(
        "auto",
        description="Who writes explanations; auto: the endpoint if configured, else llama.cpp.",
    )
    request_parser: Literal["auto", "rules", "llm"] = Field(
        "auto",
        description="Who reads refinement requests; auto: an LLM when an OpenAI-compatible "
        "endpoint or a GGUF bigger than the packaged SmolLM2 is configured, else the rules "
        "(always the fallback).",
    )
    llm_timeout_s: float = Field(
        20.0, gt=0, le=600, description="Wall-clock budget for one LLM explanation."
    )
    llm_first_token_timeout_s: float = Field(
        10.0, gt=0, le=600, description="Give up on the LLM if no token arrives by then."
    )
    llm_max_tokens: int = Field(
        200, ge=8, le=1024, description="Longest LLM explanation (a rewrite of the plan)."
    )
    llm_threads: int | None = Field(
        None, ge=1, le=256, description="CPU threads for llama.cpp (default: threads)."
    )
    llm_repack: bool = Field(
        False,
        description="Let llama.cpp repack weights for AMX/AVX kernels (faster on some CPUs; "
        "crashes where a VM advertises AMX without enabling it).",
    )

    fps: float = Field(
        1.0,
        gt=0,
        le=60,
        description="Video frames sampled per second for videos up to 30 s (paper: 5); "
        "longer ones get a frame per shot and its motion partner.",
    )
    window_seconds: float = Field(
        120.0, gt=0, description="Central window of a track that is analysed."
    )
    segment_seconds: float = Field(10.0, gt=0, description="Length of one analysed segment.")
    decode_timeout_s: float = Field(
        120.0, gt=0, description="Indexing: a file whose decode takes longer is skipped."
    )
    min_track_seconds: float = Field(
        5.0, ge=0, description="Indexing: shorter tracks are recorded as failures, not picks."
    )
    max_video_frames: int = Field(
        120,
        ge=1,
        le=10_000,
        description="Cap on frames analysed per video (the rate is lowered, or shots thinned).",
    )
    export_mode: ExportModeChoice = Field(
        "auto",
        description="Export: replace drops the video's own sound, mix keeps it with the music "
        "under it, duck also dips the music under its speech; auto: duck when the video has "
        "sound, else replace.",
    )
    export_loudness_lufs: float = Field(
        -14.0, ge=-40, le=-5, description="Export: integrated loudness of the result (LUFS)."
    )
    export_true_peak_dbtp: float = Field(
        -1.0, ge=-12, le=0, description="Export: true-peak ceiling of the result (dBTP)."
    )
    export_music_db: float = Field(
        -8.0,
        ge=-40,
        le=20,
        description="Export (mix, duck): music loudness against the video's own sound (dB).",
    )
    export_duck_db: float = Field(
        -12.0, ge=-40, le=0, description="Export (duck): how far the music dips under speech (dB)."
    )
    export_fade_in_s: float = Field(0.3, ge=0, le=30, description="Export: music fade-in (s).")
    export_fade_out_s: float = Field(2.0, ge=0, le=30, description="Export: music fade-out (s).")
    top_k: int = Field(5, ge=1, le=100, description="Recommendations per turn.")
    first_slate_diversity: float = Field(
        0.3,
        ge=0,
        le=1,
        description="Turn 1: how much the picks must differ in style (maximal marginal "
        "relevance over the audio embeddings); 0 keeps the plain score order.",
    )
    threads: int = Field(
        2, ge=1, le=256, description="CPU threads for torch, onnxruntime and the video decoders."
    )
    batch_size: int = Field(16, ge=1, le=4096, description="Encoder batch size.")

    @field_validator(
        "data_dir",
        "catalog_dir",
        "musicnn_dir",
        "llm_model",
        "llm_projector",
        "recommender_checkpoint",
        mode="after",
    )
    @classmethod
    def _expand(cls, v: Path | None) -> Path | None:
        return v.expanduser() if v is not None else None

    def mix_settings(self) -> MixSettings:
        """The export's mix, loudness and fade settings (the mode is chosen per export)."""
        from musechat_tui.export.mixdown import MixSettings

        return MixSettings(
            music_db=self.export_music_db,
            duck_db=self.export_duck_db,
            target_lufs=self.export_loudness_lufs,
            ceiling_dbtp=self.export_true_peak_dbtp,
            fade_in_s=self.export_fade_in_s,
            fade_out_s=self.export_fade_out_s,
        )

    @property
    def catalog_path(self) -> Path:
        return self.catalog_dir or self.data_dir / "catalog"

    @property
    def max_segments(self) -> int:
        return max(1, int(self.window_seconds // self.segment_seconds))

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # First wins: CLI flags (init) > env vars > TOML file > defaults.
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls, cls.config_file),
        )


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings; `overrides` are CLI flags (None values are ignored)."""
    path = Path(config_file) if config_file else default_config_file()
    if path.exists():
        try:
            tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: invalid config file: {exc}") from None
    Settings.config_file = path
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'config'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(
            f"invalid settings (from {path}, MUSECHAT_* or flags): {problems}"
        ) from None
