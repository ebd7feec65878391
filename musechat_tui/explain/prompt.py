"""The chat prompt every LLM explainer gets: the facts, and nothing the grounding check
would have to reject. The previous track is described by how it differs, never by name,
because naming it would itself be 'naming another track'."""

from __future__ import annotations

from musechat_tui.explain.facts import ExplanationFacts, TrackFacts
from musechat_tui.explain.grounding import feel_words

RULES = (
    "You explain in two short sentences, under 60 words, why one music track was "
    "recommended for the user's video. Use only the facts below. Name no other song, "
    "artist, album or band. Describe the sound only with the listed tags and feel; do not "
    "mention instruments, voices, genres or moods that are not listed."
)


def _track_lines(track: TrackFacts) -> list[str]:
    by = f" by {track.artist}" if track.artist else ""
    extra = ", ".join(
        x for x in (track.album and f"album {track.album}", track.year and str(track.year)) if x
    )
    lines = [f'Track: "{track.title}"{by}' + (f" ({extra})" if extra else "")]
    if track.tags:
        lines.append("Tags: " + ", ".join(track.tags[:6]))
    feel = list(feel_words(track))
    if track.bpm:
        feel.append(f"{track.bpm:.0f} BPM")
    if feel:
        lines.append("Feel: " + ", ".join(feel))
    return lines


def _difference(facts: ExplanationFacts) -> str | None:
    prev, track = facts.previous, facts.track
    if prev is None:
        return None
    parts: list[str] = []
    if track.bpm and prev.bpm and abs(track.bpm - prev.bpm) >= 5:
        parts.append("slower" if track.bpm < prev.bpm else "faster")
    if (
        track.loudness_db is not None
        and prev.loudness_db is not None
        and abs(track.loudness_db - prev.loudness_db) >= 3
    ):
        parts.append("quieter" if track.loudness_db < prev.loudness_db else "louder")
    mine = {t.lower() for t in track.tags}
    if gained := [t for t in track.tags if t.lower() not in {p.lower() for p in prev.tags}]:
        parts.append("adds " + ", ".join(gained[:3]))
    if lost := [t for t in prev.tags if t.lower() not in mine]:
        parts.append("has no " + ", ".join(lost[:3]))
    return "; ".join(parts) if parts else "similar"


def system_prompt(facts: ExplanationFacts) -> str:
    lines = [RULES, "", *_track_lines(facts.track), f"Video: {facts.video}"]
    if facts.request:
        lines.append(f'The user asked: "{facts.request}"')
        if facts.matched:
            lines.append("The track satisfies: " + ", ".join(facts.matched))
    if (diff := _difference(facts)) is not None:
        lines.append(f"Compared with the previous pick it is: {diff}")
    return "\n".join(lines)


def user_prompt(facts: ExplanationFacts) -> str:
    title = facts.track.title
    if facts.request:
        return f'Why does "{title}" suit my video and my request?'
    return f'Why does "{title}" suit my video?'


def chat_messages(facts: ExplanationFacts) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": system_prompt(facts)},
        {"role": "user", "content": user_prompt(facts)},
    ]
