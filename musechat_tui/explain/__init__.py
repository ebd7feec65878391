"""Explanations (paper §4.2): why a track fits the video and the request, streamed.

Use `build_guarded_explainer(settings).events(facts, others)`: `Token`/`Replace`/`Done`
events from llama.cpp, an OpenAI-compatible endpoint or the template, with timeouts, a
template fallback and the grounding check (see guard.py)."""

from musechat_tui.explain.base import Done, Event, Explainer, ExplainerError, Replace, Token
from musechat_tui.explain.facts import ExplanationFacts, TrackFacts
from musechat_tui.explain.grounding import GroundingResult, check_grounding, load_tag_vocabulary
from musechat_tui.explain.guard import GuardedExplainer, build_explainer, build_guarded_explainer
from musechat_tui.explain.template import TemplateExplainer, template_text

__all__ = [
    "Done",
    "Event",
    "Explainer",
    "ExplainerError",
    "ExplanationFacts",
    "GroundingResult",
    "GuardedExplainer",
    "Replace",
    "TemplateExplainer",
    "Token",
    "TrackFacts",
    "build_explainer",
    "build_guarded_explainer",
    "check_grounding",
    "load_tag_vocabulary",
    "template_text",
]
