"""The chat prompt every LLM explainer gets: the planned explanation (explain/template.py,
sentences from typed facts) to rephrase, and nothing else. The LLM is a rewriter, not an
author: the guard accepts its text only when it keeps every planned number and the
title, claims nothing the facts do not hold and contradicts nothing measured; otherwise
the planned text is shown."""

from __future__ import annotations

from musechat_tui.explain.facts import ExplanationFacts
from musechat_tui.explain.template import plan_sentences

RULES = (
    "Rewrite the explanation below in fresh, natural words for the user, in at most four "
    "sentences. Keep every fact and every number exactly; add nothing: no other song, "
    "artist, instrument, genre, mood or number. Answer with the rewritten text only."
)


def system_prompt(facts: ExplanationFacts) -> str:
    # The plan's first sentence (naming the pick) is shown as it is; the model rewrites
    # the rest.
    return f"{RULES}\n\nExplanation:\n{' '.join(plan_sentences(facts)[1:])}"


def user_prompt(facts: ExplanationFacts) -> str:
    return "Rewrite it."


def chat_messages(facts: ExplanationFacts) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": system_prompt(facts)},
        {"role": "user", "content": user_prompt(facts)},
    ]
