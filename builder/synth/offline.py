"""The offline conversation generator (the default): the same facts the paper gives GPT-3.5
(titles, track/album/artist names, top-5 MTT and MSD tags of the original and the
candidate), phrased with varied templates in the manner of the paper's human-written
examples, no endpoint needed.

t1  the user asks for music for the video (sometimes saying how the video looks);
t2  the system recommends the candidate by name and describes it with its own tags;
t3  the user keeps what the candidate shares with the original and asks for what the
    original has and the candidate lacks (its tags; never its title);
t4  the system recommends the original by name, describing it with its tags, the asked-for
    ones first.

Every choice comes from a generator seeded by the quartet and the attempt, so a run is
reproducible and a regeneration is a different phrasing.
"""

from __future__ import annotations

import numpy as np

from builder.synth.facts import PromptTrackFacts
from builder.synth.scorer import VideoFacts, looks
from builder.synth.validate import canonical
from musechat_tui.dataset import Turn

GENRES = {
    "classical", "techno", "electronic", "rock", "ambient", "indian", "opera", "pop",
    "new age", "dance", "country", "metal", "alternative", "indie", "alternative rock",
    "jazz", "chillout", "classic rock", "soul", "indie rock", "electronica", "folk", "punk",
    "blues", "hard rock", "experimental", "hip-hop", "funk", "electro", "heavy metal",
    "progressive rock", "rnb", "indie pop", "house", "easy listening", "classic",
}  # fmt: skip
ERAS = {"00s", "60s", "70s", "80s", "90s", "oldies"}
MOODS = {
    "slow", "fast", "loud", "quiet", "soft", "weird", "beautiful", "mellow", "chill",
    "sexy", "catchy", "sad", "happy",
}  # fmt: skip
INSTRUMENTS = {
    "guitar", "strings", "drums", "piano", "violin", "synth", "harpsichord", "flute",
    "sitar", "harp", "cello", "acoustic",
}  # fmt: skip
# How a voice / other tag reads in a sentence, using only the tag's own words.
PHRASES = {
    "vocal": "vocals",
    "vocals": "vocals",
    "singing": "singing",
    "voice": "a prominent voice",
    "male": "a male lead",
    "man": "a man at the microphone",
    "female": "a female lead",
    "woman": "a woman at the microphone",
    "male vocal": "male vocals",
    "female vocal": "female vocals",
    "male voice": "a male voice",
    "female voice": "a female voice",
    "male vocalists": "male vocalists",
    "female vocalists": "female vocalists",
    "female vocalist": "a female vocalist",
    "no vocal": "no vocals",
    "no vocals": "no vocals",
    "no voice": "no voice at all",
    "instrumental": "an instrumental arrangement",
    "choir": "a choir",
    "choral": "choral parts",
    "beat": "a steady beat",
    "beats": "punchy beats",
    "solo": "a solo performance",
    "party": "a party feel",
}
KEEP_CASE = {"hip-hop": "Hip-Hop"}


def _word(tag: str) -> str:
    return KEEP_CASE.get(tag.lower(), tag.lower())


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou8" else "a"


def _join(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def describe(tags: list[str], rng: np.random.Generator) -> str:
    """Tags as a noun phrase: 'a slow and mellow classical track with piano and strings
    and no vocals, with a 90s feel'. Uses each tag's own words only."""
    low = [t.lower() for t in tags]
    moods = [_word(t) for t in low if t in MOODS][:2]
    genres = [_word(t) for t in low if t in GENRES][:2]
    eras = [t for t in low if t in ERAS][:1]
    withs = [_word(t) for t in low if t in INSTRUMENTS]
    withs += [PHRASES[t] for t in low if t in PHRASES]
    rng.shuffle(withs)
    head = " and ".join(moods)
    kind = " and ".join(genres) if rng.random() < 0.5 or len(genres) < 2 else genres[0]
    noun = str(rng.choice(["track", "piece", "song", "tune"]))
    core = " ".join(w for w in (head, kind, noun) if w)
    phrase = f"{_article(core)} {core}"
    influences = len(genres) == 2 and kind == genres[0]
    if influences:
        phrase += f" with {genres[1]} influences"
    if withs:
        verb = "featuring" if influences or rng.random() < 0.3 else "with"
        phrase += f" {verb} {_join(withs[:3])}"
    if eras:
        era = eras[0]
        phrase += f", with {_article(era)} {era} feel" if era != "oldies" else ", an oldies sound"
    return phrase


def _pick(rng: np.random.Generator, options: list[str]) -> str:
    return options[int(rng.integers(len(options)))]


def _named(f: PromptTrackFacts, rng: np.random.Generator) -> str:
    s = f"'{f.name}'"
    return s + f" by {f.artist}" if f.artist and rng.random() < 0.85 else s


def video_look_words(v: VideoFacts | None) -> list[str]:
    """How the user might describe their footage (user turns only)."""
    if v is None:
        return []
    words = {
        "dark": "dark",
        "bright": "bright",
        "colourful": "colourful",
        "muted": "muted",
        "still": "calm",
        "moving": "fast-paced",
    }
    return [words[k] for k, a in sorted(looks(v).items(), key=lambda kv: -kv[1]) if a > 0.5][:2]


def _differ(a: list[str], b: list[str]) -> list[str]:
    """Tags of `a` whose meaning `b` lacks."""
    cb = {canonical(t) for t in b}
    return [t for t in a if canonical(t) not in cb]


def generate(
    target: PromptTrackFacts,
    candidate: PromptTrackFacts,
    rng: np.random.Generator,
    video: VideoFacts | None = None,
) -> list[Turn]:
    look = video_look_words(video)
    look_s = " and ".join(look) + " " if look and rng.random() < 0.6 else ""
    t1 = _pick(
        rng,
        [
            "Can you recommend a music for my video?",
            f"Could you suggest some music for my {look_s}video?",
            f"I need a soundtrack for this {look_s}clip. Any ideas?",
            "What music would fit my video?",
            f"I'm editing a {look_s}video and need background music. What do you suggest?",
            "Please find a song that goes with my video.",
        ],
    )

    cand_tags = candidate.tags[:]
    rng.shuffle(cand_tags)
    cand_desc = describe(cand_tags[: int(rng.integers(3, 6))], rng)
    album = (
        f" It's from the album '{candidate.album}'."
        if candidate.album and rng.random() < 0.4
        else ""
    )
    t2 = (
        _pick(
            rng,
            [
                f"Based on your video, I recommend {_named(candidate, rng)}.",
                f"For this video, I'd suggest {_named(candidate, rng)}.",
                f"How about {_named(candidate, rng)}?",
                f"I think {_named(candidate, rng)} would work well here.",
                f"Let me recommend {_named(candidate, rng)}.",
            ],
        )
        + album
        + f" It's {cand_desc}."
        + _pick(
            rng,
            [
                " It could complement the visuals of your video.",
                " Its mood should suit your footage.",
                "",
                " It gives the video a distinctive atmosphere.",
            ],
        )
    )

    want = _differ(target.tags, candidate.tags)
    keep = [t for t in candidate.tags if canonical(t) in {canonical(x) for x in target.tags}]
    even = not want  # the candidate already has all the original's tags: ask for more of them
    want = (want or target.tags)[: int(rng.integers(2, 4))]
    wish = _describe_wish(want, rng, even)
    liked = f"I like the {_word(keep[0])} side of it, but " if keep and rng.random() < 0.6 else ""
    more = "even more " if even else ""
    t3 = _pick(
        rng,
        [
            f"That sounds great, but I'd like something {wish}.",
            f"{liked or 'Hmm, '}could you find something {wish}?",
            f"Not quite what I had in mind. {liked}I'm looking for something {wish}.",
            f"Thanks! {liked or 'However, '}I'd prefer a track that is {wish}. "
            "Do you have anything like that?",
            f"Good suggestion, but I want to bring {more}{_join([_word(t) for t in want])} "
            "elements into my video.",
        ],
    )
    t3 = t3[0].upper() + t3[1:]

    # The asked-for tags first, then the rest of the original's tags.
    tags = want + [t for t in target.tags if t not in want]
    target_desc = describe(tags[: max(len(want) + 1, int(rng.integers(3, 6)))], rng)
    t4 = (
        _pick(
            rng,
            [
                f"Certainly! How about {_named(target, rng)}?",
                f"Allow me to recommend {_named(target, rng)}.",
                f"Then I suggest {_named(target, rng)}.",
                f"In that case, try {_named(target, rng)}.",
                f"Sure, {_named(target, rng)} should be a better match.",
            ],
        )
        + (f" It's from the album '{target.album}'." if target.album and rng.random() < 0.4 else "")
        + f" It's {target_desc}."
        + _pick(
            rng,
            [
                " It matches what you asked for.",
                " That should align with your preferences.",
                " It should fit your video better.",
                "",
            ],
        )
    )
    return [
        Turn("user", t1),
        Turn("system", t2, "candidate"),
        Turn("user", t3),
        Turn("system", t4, "target"),
    ]


def _describe_wish(tags: list[str], rng: np.random.Generator, even: bool) -> str:
    """'more mellow and classical, with piano': what the user asks for."""
    low = [t.lower() for t in tags]
    adj = [_word(t) for t in low if t in MOODS | GENRES | ERAS]
    withs = [_word(t) for t in low if t in INSTRUMENTS] + [PHRASES[t] for t in low if t in PHRASES]
    parts = []
    more = "even more " if even else "more " if rng.random() < 0.5 else ""
    if adj:
        parts.append(more + _join(adj))
    if withs:
        parts.append(("with " if adj or not even else "with even more ") + _join(withs))
    return ", ".join(parts) if parts else "different"
