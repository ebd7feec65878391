"""The learned scorer: a checkpoint in the trainer's format (musechat_tui/models) is
loaded, checked against the chat's encoders, and ranks the catalog, both through the
catalog's HNSW index (identity track head) and through projected track vectors (linear
head). The model is a small, randomly initialised MuseChatRecommender: the real class,
only tiny."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from engine_support import make_settings, present, video

from musechat_tui.engine import ChatEngine, EngineError
from musechat_tui.engine.learned import LearnedScorer
from musechat_tui.engine.scoring import ZeroShotScorer
from musechat_tui.errors import ModelLoadError
from musechat_tui.explain.template import TemplateExplainer
from musechat_tui.models.recommender import (
    MuseChatRecommender,
    RecommenderConfig,
    save_checkpoint,
)


def tiny(track_head: str = "linear", **kw: object) -> MuseChatRecommender:
    torch.manual_seed(0)
    cfg = RecommenderConfig(d_model=16, n_layers=1, n_heads=2, track_head=track_head, **kw)
    return MuseChatRecommender(cfg).eval()


def engine_with(tmp_path: Path, library: Path, text_encoder: object, ckpt: Path) -> ChatEngine:
    # The plain score order (no diverse first slate): these tests check the model's ranking.
    return ChatEngine(
        make_settings(tmp_path, library, first_slate_diversity=0.0),
        checkpoint=ckpt,
        explainer=TemplateExplainer(),
        text_encoder=text_encoder,
    )


@pytest.mark.parametrize("head", ["linear", "identity"])
def test_first_turn_ranks_by_the_models_cosine(
    tmp_path: Path, library: Path, text_encoder: object, head: str
) -> None:
    model = tiny(head)
    ckpt = tmp_path / "rec.pt"
    save_checkpoint(model, ckpt)
    with engine_with(tmp_path, library, text_encoder, ckpt) as eng:
        assert isinstance(eng.scorer, LearnedScorer) and eng.scorer.name == "learned"
        v = video()
        turn = eng.recommend(eng.start(v))
        with torch.inference_mode():
            q = model.fuse(
                torch.from_numpy(v.embeddings)[None],
                torch.ones(1, len(v.embeddings), dtype=torch.bool),
                torch.zeros(1, 0, 384),
                torch.zeros(1, 0, dtype=torch.bool),
                torch.zeros(1, 0, 400),
                torch.zeros(1, 0, dtype=torch.bool),
            )[0].numpy()
            tracks = model.embed_tracks(torch.from_numpy(eng.pool.audio)).numpy()
        expected = eng.pool.ids[np.argsort(-(tracks @ q))[:5]].tolist()
        assert [r.id for r in turn.recommendations] == expected


def test_refinement_uses_words_and_anchor_and_keeps_the_rules(
    tmp_path: Path, library: Path, text_encoder: object
) -> None:
    ckpt = tmp_path / "rec.pt"
    save_checkpoint(tiny("identity"), ckpt)
    with engine_with(tmp_path, library, text_encoder, ckpt) as eng:
        session = eng.start(video())
        first = eng.recommend(session)
        turn = eng.recommend(session, "more like #2, no drums")
        assert turn.anchor_id == first.recommendations[1].id
        assert turn.recommendations
        assert all(not present(eng, r.id, "drums") for r in turn.recommendations)
        assert "learned" in turn.recommendations[0].parts
        assert session.scorer == "learned"


def test_encoder_mismatch_is_refused(tmp_path: Path, library: Path, text_encoder: object) -> None:
    ckpt = tmp_path / "rec.pt"
    save_checkpoint(tiny(text_encoder="clip-text:other"), ckpt)
    with pytest.raises(ModelLoadError, match="text encoder"):
        engine_with(tmp_path, library, text_encoder, ckpt)


def test_wrong_audio_dim_is_refused(tmp_path: Path, library: Path, text_encoder: object) -> None:
    ckpt = tmp_path / "rec.pt"
    save_checkpoint(tiny(audio_dim=128), ckpt)
    with pytest.raises(ModelLoadError, match="400-d"):
        engine_with(tmp_path, library, text_encoder, ckpt)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not a checkpoint", "not a loadable"),
        (None, "does not exist"),
    ],
)
def test_bad_files(
    tmp_path: Path, library: Path, text_encoder: object, content: bytes | None, message: str
) -> None:
    ckpt = tmp_path / "rec.pt"
    if content is not None:
        ckpt.write_bytes(content)
    with pytest.raises(ModelLoadError, match=message):
        engine_with(tmp_path, library, text_encoder, ckpt)


def test_wrong_format_and_weights(tmp_path: Path, library: Path, text_encoder: object) -> None:
    ckpt = tmp_path / "rec.pt"
    torch.save({"format": "something-else"}, ckpt)
    with pytest.raises(ModelLoadError, match="not a MuseChat recommender"):
        engine_with(tmp_path, library, text_encoder, ckpt)
    model = tiny()
    state = model.state_dict()
    state.pop("out.bias")
    from dataclasses import asdict

    torch.save(
        {
            "format": "musechat-recommender",
            "version": 1,
            "config": asdict(model.cfg),
            "state_dict": state,
        },
        ckpt,
    )
    with pytest.raises(ModelLoadError, match="out.bias"):
        engine_with(tmp_path, library, text_encoder, ckpt)


def test_default_checkpoint_is_found_and_a_bad_one_falls_back(
    tmp_path: Path, library: Path, text_encoder: object
) -> None:
    settings = make_settings(tmp_path, library)
    default = settings.data_dir / "models" / "recommender.pt"
    default.parent.mkdir(parents=True)
    save_checkpoint(tiny(), default)
    with ChatEngine(settings, explainer=TemplateExplainer(), text_encoder=text_encoder) as eng:
        assert isinstance(eng.scorer, LearnedScorer)
    save_checkpoint(tiny(image_encoder="clip-image:other"), default)
    with ChatEngine(settings, explainer=TemplateExplainer(), text_encoder=text_encoder) as eng:
        assert isinstance(eng.scorer, ZeroShotScorer)
        assert any("zero-shot" in n for n in eng.notes)


def test_a_model_of_visualiser_videos_does_not_silently_rank_real_footage(
    tmp_path: Path, library: Path, text_encoder: object
) -> None:
    """A checkpoint trained on synthetic visualiser videos only: found in the data folder,
    it is not used (and the notes say why); `scorer = learned` uses it; `zero-shot` never
    loads one; `learned` without a checkpoint is a clear error."""
    settings = make_settings(tmp_path, library)
    default = settings.data_dir / "models" / "recommender.pt"
    default.parent.mkdir(parents=True)
    save_checkpoint(tiny(), default, {"synthetic_videos": True})

    def scorer(**kw: object) -> tuple[object, list[str]]:
        s = make_settings(tmp_path, library, **kw)
        with ChatEngine(s, explainer=TemplateExplainer(), text_encoder=text_encoder) as eng:
            return eng.scorer, eng.notes

    chosen, notes = scorer()
    assert isinstance(chosen, ZeroShotScorer)
    assert any("synthetic visualiser videos" in n and "scorer = learned" in n for n in notes)
    chosen, notes = scorer(scorer="learned")
    assert isinstance(chosen, LearnedScorer) and any("ranks the tracks" in n for n in notes)
    assert isinstance(scorer(scorer="zero-shot")[0], ZeroShotScorer)
    default.unlink()
    with pytest.raises(EngineError, match="no recommender checkpoint"):
        scorer(scorer="learned")
