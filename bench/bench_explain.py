"""Reads the explanations: over the demo videos (demo catalog) and the SuperTux scenes
(the pairs catalog of bench/bench_pairs.py), three turns each (the video alone, then two
requests), through the real engine.

Reported, on the planned text (the template, what the chat shows unless an LLM's rewrite
is accepted):
- the share that name >= 2 video cues (what in the video led where) and >= 2 track facts
  (its tempo in BPM, its tags, its key, its length against the video, voice or none);
- the share of later turns that say what changed against the previous pick;
- contradictions (tempo or loudness words against the measurements, "instrumental"
  against vocal tags) and identical explanations within a session;
and, for each explainer, how often its text is accepted (grounded, consistent, every
planned number kept), with the first token and total time.

    nice .venv/bin/python bench/bench_explain.py [--demo /tmp/mcdemo/demo]
        [--pairs /tmp/musechat-pairs] [--scenes 10] [--llm 12] [--examples]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from musechat_tui.analysis import analyse_video  # noqa: E402
from musechat_tui.clock import clock  # noqa: E402
from musechat_tui.config import Settings, load_settings  # noqa: E402
from musechat_tui.encoders import build_image_encoder, build_text_encoder  # noqa: E402
from musechat_tui.engine import ChatEngine  # noqa: E402
from musechat_tui.explain import GuardedExplainer, TemplateExplainer  # noqa: E402
from musechat_tui.explain.facts import ExplanationFacts, TrackFacts  # noqa: E402
from musechat_tui.explain.grounding import contradictions, normalise  # noqa: E402
from musechat_tui.explain.template import said_tags, template_text  # noqa: E402

# Turn 2 and 3 requests, one pair per video in turn (varied, as users vary).
REQUESTS = (
    ("slower", "more piano"),
    ("no drums", "something different"),
    ("faster", "more like #2"),
    ("calm, no vocals", "shorter"),
    ("more energetic", "not #1"),
    ("something sad", "with strings"),
    ("for a travel vlog", "a bit quieter"),
    ("in a minor key", "less electronic"),
)


@dataclass
class Reading:
    source: str  # "demo" | "pairs"
    turn: int
    cues: int
    track_facts: int
    names_change: bool | None  # None on turn 1
    contradictions: list[str]
    text: str
    facts: ExplanationFacts = field(repr=False)
    others: list[TrackFacts] = field(repr=False)


def count_cues(text: str, facts: ExplanationFacts) -> int:
    body = normalise(text)
    return sum(normalise(c.seen) in body for c in facts.cues)


def count_track_facts(text: str, facts: ExplanationFacts) -> int:
    t, body = facts.track, normalise(text)
    found = [
        t.bpm is not None and f"{t.bpm:.0f} bpm" in body,
        any(normalise(w) in body for _, w in said_tags(t)),
        t.key is not None and normalise(t.key) in body,
        clock(t.duration) in text,
        any(w in body for w in ("instrumental", "vocals", "a choir")),
    ]
    return sum(found)


def names_change(text: str, facts: ExplanationFacts) -> bool | None:
    if facts.previous is None:
        return None
    body = normalise(text)
    return "previous pick" in body and any(
        w in body for w in (" vs ", "brings in", "leaves out", "leans", "is less", "keeps")
    )


def sessions(
    settings: Settings, videos: list[Path], source: str, text_encoder: object, offset: int
) -> list[list[Reading]]:
    image_encoder = build_image_encoder(settings)
    out = []
    with ChatEngine(settings, explainer=TemplateExplainer(), text_encoder=text_encoder) as engine:
        for i, video in enumerate(videos):
            session = engine.start(analyse_video(video, settings, image_encoder))
            readings = []
            for turn_text in (None, *REQUESTS[(offset + i) % len(REQUESTS)]):
                turn = engine.recommend(session, turn_text)
                if not turn.recommendations:
                    continue
                facts, others = engine.explanation_facts(session, turn)
                text = engine.explain_text(session, turn)
                assert text == template_text(facts)
                readings.append(
                    Reading(
                        source,
                        turn.turn,
                        count_cues(text, facts),
                        count_track_facts(text, facts),
                        names_change(text, facts),
                        contradictions(text, facts),
                        text,
                        facts,
                        others,
                    )  # fmt: skip
                )
            out.append(readings)
    return out


def llm_acceptance(settings: Settings, readings: list[Reading]) -> list[str]:
    from musechat_tui.explain.guard import build_explainer

    rows = []
    for name, explainer in (
        ("planned text (template)", TemplateExplainer()),
        ("SmolLM2-135M (llama.cpp) rewriting it", build_explainer(settings)),
    ):
        guard = GuardedExplainer(
            explainer, timeout_s=settings.llm_timeout_s,
            first_token_timeout_s=settings.llm_first_token_timeout_s,
        )  # fmt: skip
        done = [guard.explain(r.facts, r.others) for r in readings]
        accepted = [d for d in done if d.source != "template" or name.startswith("planned")]
        firsts = [d.first_token_s for d in done if d.first_token_s is not None]
        why: dict[str, int] = {}
        for d in done:
            for issue in d.issues:
                key = issue.split(":")[0]
                why[key] = why.get(key, 0) + 1
        top = ", ".join(f"{k} {v}" for k, v in sorted(why.items(), key=lambda x: -x[1])[:3])
        first = f"{statistics.median(firsts):.2f} s" if firsts else "-"
        total = statistics.median(d.elapsed_s for d in done)
        rows.append(
            f"| {name} | {len(accepted)}/{len(done)} | {first} | {total:.2f} s | {top or '-'} |"
        )
        guard.close()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--demo", type=Path, default=Path("/tmp/mcdemo/demo"))
    ap.add_argument("--pairs", type=Path, default=Path("/tmp/musechat-pairs"))
    ap.add_argument("--scenes", type=int, default=10, help="SuperTux scenes (one per pair)")
    ap.add_argument("--llm", type=int, default=12, help="explanations given to the LLM")
    ap.add_argument("--examples", action="store_true", help="print a demo session's texts")
    a = ap.parse_args()
    text_encoder = build_text_encoder(load_settings(Path("/nonexistent.toml"), threads=2))
    runs: list[list[Reading]] = []
    demo = load_settings(
        Path("/nonexistent.toml"), data_dir=a.demo / "data", catalog_dir=a.demo / "catalog"
    )
    runs += sessions(demo, sorted((a.demo / "videos").glob("*.mp4")), "demo", text_encoder, 0)
    if (a.pairs / "catalog").is_dir():
        pairs = load_settings(
            Path("/nonexistent.toml"), data_dir=a.pairs / "data", catalog_dir=a.pairs / "catalog"
        )
        scenes = sorted((a.pairs / "videos").glob("scene_*.mp4"))
        step = max(1, len(scenes) // max(1, a.scenes))
        runs += sessions(pairs, scenes[::step][: a.scenes], "pairs", text_encoder, 2)
    readings = [r for run in runs for r in run]
    later = [r for r in readings if r.names_change is not None]
    identical = sum(len(run) - len({r.text for r in run}) for run in runs)
    rich = sum(r.cues >= 2 and r.track_facts >= 2 for r in readings)
    n_demo = sum(run[0].source == "demo" for run in runs if run)
    print(f"### Explanations: {len(runs)} sessions ({n_demo} demo videos, "
          f"{len(runs) - n_demo} SuperTux scenes), {len(readings)} explanations\n")  # fmt: skip
    print("| measure | value | target |\n|---|---:|---:|")
    print(f"| >= 2 video cues and >= 2 track facts | {rich}/{len(readings)} "
          f"({rich / len(readings):.0%}) | 100 % |")  # fmt: skip
    changed = sum(bool(r.names_change) for r in later)
    print(f"| later turns naming the change | {changed}/{len(later)} "
          f"({changed / max(1, len(later)):.0%}) | 100 % |")  # fmt: skip
    print(f"| contradictions | {sum(len(r.contradictions) for r in readings)} | 0 |")
    print(f"| identical explanations within a session | {identical} | 0 |")
    print(f"| video cues / track facts per explanation (median) | "
          f"{statistics.median(r.cues for r in readings):g} / "
          f"{statistics.median(r.track_facts for r in readings):g} | |")  # fmt: skip
    if a.llm:
        print("\n| explainer | accepted | first token | total | why rejected (top 3) |")
        print("|---|---:|---:|---:|---|")
        for row in llm_acceptance(demo, readings[: a.llm]):
            print(row)
    if a.examples and runs:
        print("\n" + "\n\n".join(f"turn {r.turn}: {r.text}" for r in runs[0]))


if __name__ == "__main__":
    main()
