"""The words the engine understands, as data: musical concepts and the catalog tags
(musicnn's MTT and MSD vocabularies) they stand for, and the mood lexicon a scene is read
into. The request parser and the zero-shot scorer read these tables; keeping them here
makes the rules easy to read and extend.

Tag names are lower-case; the catalog stores some mixed-case ("Mellow", "Hip-Hop") and
the pool lower-cases them on load.
"""

from __future__ import annotations

from dataclasses import dataclass

# A tag "is there" when it is among the track's 5 best of its vocabulary (what the UI and
# the track description show) or its probability reaches this.
TAG_PRESENT_PROB = 0.1
TAG_PRESENT_RANK = 5


@dataclass(frozen=True)
class Concept:
    name: str  # canonical name, shown in notes ("no drums")
    words: tuple[str, ...]  # how users say it (regex-escaped literal phrases, lower case)
    tags: tuple[str, ...]  # catalog tags that carry it


def _c(name: str, words: str, tags: str) -> Concept:
    return Concept(name, tuple(w.strip() for w in words.split("|")), tuple(tags.split("|")))


# Longer phrases are matched first, so "female vocals" wins over "vocals".
CONCEPTS: tuple[Concept, ...] = (
    _c(
        "female vocals",
        "female vocals|female vocal|female voice|female singer|woman singing|female",
        "female vocal|female voice|female vocalists|female vocalist|female|woman",
    ),
    _c(
        "male vocals",
        "male vocals|male vocal|male voice|male singer|man singing|male",
        "male vocal|male voice|male vocalists|male|man",
    ),
    _c(
        "vocals",
        "vocals|vocal|voices|voice|singing|singer|singers|sung|lyrics|words",
        "vocal|vocals|voice|singing|male vocal|female vocal|male voice|female voice"
        "|male vocalists|female vocalists|female vocalist|opera|choir|choral",
    ),
    # Music under someone speaking (a voice-over, a narration) is instrumental by default.
    _c(
        "instrumental",
        "instrumental|instrumentals|voice-over|voice over|voiceover|narration|narrated",
        "instrumental|no vocals|no vocal|no voice",
    ),
    _c("choir", "choir|choral|chorus", "choir|choral"),
    _c("opera", "opera|operatic|aria", "opera"),
    _c("piano", "piano|pianos|keys", "piano"),
    _c("harpsichord", "harpsichord", "harpsichord"),
    _c("guitar", "guitars|guitar", "guitar"),
    _c("acoustic", "acoustic|unplugged", "acoustic"),
    _c("drums", "drums|drum|percussion|drummer|beats|beat", "drums|beat|beats"),
    _c("strings", "strings|string|orchestral|orchestra", "strings|violin|cello|harp"),
    _c("violin", "violins|violin|fiddle", "violin"),
    _c("cello", "cello|cellos", "cello"),
    _c("harp", "harp", "harp"),
    _c("flute", "flutes|flute", "flute"),
    _c("sitar", "sitar", "sitar|indian"),
    _c("synth", "synths|synth|synthesizer|synthesiser", "synth"),
    _c(
        "electronic",
        "electronic|electronica|electro|edm|techno|house",
        "electronic|electronica|electro|techno|house",
    ),
    _c("hard rock", "hard rock", "hard rock"),
    _c("metal", "heavy metal|metal", "metal|heavy metal"),
    _c(
        "rock",
        "classic rock|alternative rock|indie rock|rock and roll|rock",
        "rock|classic rock|hard rock|alternative rock|indie rock",
    ),
    _c("pop", "pop|poppy", "pop|indie pop"),
    _c("indie", "indie", "indie|indie rock|indie pop"),
    _c("jazz", "jazzy|jazz", "jazz"),
    _c("blues", "bluesy|blues", "blues"),
    _c("funk", "funky|funk", "funk"),
    _c("soul", "soulful|soul|r&b|rnb", "soul|rnb"),
    _c("hip hop", "hip hop|hip-hop|hiphop|rap", "hip-hop"),
    _c("punk", "punk", "punk"),
    _c("country", "country", "country"),
    _c("folk", "folky|folk", "folk"),
    _c("classical", "classical|classic", "classical|classic"),
    _c("ambient", "ambient|atmospheric|soundscape", "ambient|new age"),
    _c("dance", "danceable|dance|dancing|party|club", "dance|party|house"),
    _c("experimental", "experimental|weird|strange|avant-garde", "experimental|weird"),
    _c(
        "sad",
        "sad|sadder|sadness|melancholic|melancholy|gloomy|depressing",
        "sad|mellow",
    ),
    _c(
        "happy",
        "happy|happier|cheerful|joyful|upbeat|fun|bright|brighter",
        "happy|catchy|party|pop",
    ),
    _c(
        "calm",
        "calm|calmer|relaxing|relaxed|chill|chilled|peaceful|mellow|mellower|gentle|gentler",
        "chillout|chill|mellow|easy listening|soft|ambient",
    ),
    _c("soft", "soft|softly|delicate", "soft|quiet"),
    _c("quiet", "quiet", "quiet|soft"),
    _c("loud", "loud|noisy", "loud"),
    _c(
        "energetic",
        "energetic|energy|powerful|driving|lively|livelier|punchy|punchier",
        "fast|loud|rock|dance|drums|metal|party",
    ),
    _c("beautiful", "beautiful|pretty|lovely", "beautiful"),
    _c("sexy", "sexy|sensual", "sexy"),
    _c("catchy", "catchy", "catchy"),
    _c("fast", "fast|quick|rapid|speedy|uptempo|up-tempo", "fast"),
    _c("slow", "slow|slowly|downtempo", "slow"),
    _c("solo", "solo", "solo"),
    _c("60s", "60s|sixties", "60s"),
    _c("70s", "70s|seventies", "70s"),
    _c("80s", "80s|eighties", "80s"),
    _c("90s", "90s|nineties", "90s"),
    _c("00s", "00s|2000s", "00s"),
    _c("oldies", "oldies|old-fashioned|retro|vintage", "oldies"),
)
CONCEPTS_BY_NAME: dict[str, Concept] = {c.name: c for c in CONCEPTS}

# Saying "no vocals" also asks for an instrumental (musicnn even has the tag).
IMPLIED_BY_EXCLUSION: dict[str, str] = {"vocals": "instrumental"}
# Wanting an instrumental also weighs against the vocal tags (many a track without a
# voice lacks the "instrumental" tag itself).
OPPOSITE: dict[str, str] = {"instrumental": "vocals"}

# Concepts that also speak about tempo or loudness: a bpm/energy preference goes with them.
TEMPO_CONCEPTS: dict[str, int] = {"fast": +1, "slow": -1, "energetic": +1, "calm": -1}
LOUDNESS_CONCEPTS: dict[str, int] = {
    "loud": +1,
    "quiet": -1,
    "soft": -1,
    "energetic": +1,
    "calm": -1,
}

# Tempo words of analysis.tempo_word, reused for "fast"/"slow" preferences.
SLOW_BPM = 85.0
FAST_BPM = 135.0

# Mood and atmosphere words a scene can evoke: the targets of the scene reading (what the
# image model sees is mapped to these and to the catalog's tags through the text encoder,
# engine/scene.py) and part of the hubness bank (text_norms). No picture -> word table.
MOOD_LEXICON: tuple[str, ...] = (
    "adventurous", "aggressive", "airy", "bouncy", "bright", "calm", "carefree",
    "cheerful", "chilly", "cold", "cosy", "creepy", "dark", "dramatic", "dreamy",
    "eerie", "elegant", "epic", "exotic", "festive", "frantic", "funny", "gloomy",
    "grand", "heroic", "hopeful", "icy", "intense", "joyful", "lonely", "majestic",
    "melancholic", "menacing", "mysterious", "nostalgic", "ominous", "peaceful",
    "playful", "powerful", "quirky", "relaxed", "romantic", "sad", "serene", "solemn",
    "spooky", "summery", "sunny", "suspenseful", "sweet", "tender", "tense", "triumphant",
    "tropical", "uplifting", "urban", "warm", "whimsical", "wild", "wintry",
)  # fmt: skip


@dataclass(frozen=True)
class Use:
    """What a video is for ("for a wedding video"): its usual moods, catalog tags and tempo."""

    name: str  # shown in "understood": "use wedding → romantic, tender, 60-110 bpm"
    words: tuple[str, ...]  # how users say it (literal phrases, lower case)
    moods: tuple[str, ...]  # go to the text encoder with the request
    tags: tuple[str, ...]  # catalog tags it leans to
    bpm: tuple[float, float]  # the usual tempo range (a preference, not a filter)
    narrated: bool = False  # someone talks over it: instrumental by default


def _u(name: str, words: str, moods: str, tags: str, bpm: tuple[float, float], **kw: bool) -> Use:
    split = lambda s: tuple(w.strip() for w in s.split("|"))  # noqa: E731
    return Use(name, split(words), split(moods), split(tags), bpm, **kw)


# Longer phrases are matched first ("real estate walkthrough" before "walkthrough").
USES: tuple[Use, ...] = (
    _u("wedding", "wedding|weddings|bride|bridal|engagement|proposal video",
       "romantic|tender|elegant", "beautiful|mellow|soft|acoustic|strings|piano", (60, 110)),
    _u("travel vlog", "travel vlog|travel video|travel film|travelogue|road trip|backpacking|"
       "holiday video|vacation video|travel", "adventurous|uplifting|carefree",
       "happy|acoustic|indie|pop|catchy", (95, 130)),
    _u("vlog", "daily vlog|vlog|vlogs|day in my life|day in the life", "cheerful|carefree",
       "happy|pop|chill|indie|catchy", (90, 125)),
    _u("product demo", "product demo|product video|product launch|demo video|promo video|"
       "commercial|advert|advertisement", "modern|upbeat|confident",
       "electronic|pop|happy|catchy", (100, 125)),
    _u("horror", "horror|scary movie|scary video|haunted house|haunted|halloween",
       "dark|eerie|ominous|suspenseful", "ambient|weird|experimental|slow|quiet", (50, 100)),
    _u("workout", "workout|work out|gym|fitness|hiit|crossfit|cardio|exercise video|"
       "training video", "energetic|driving|powerful", "fast|electronic|dance|beat|loud|rock",
       (120, 170)),
    _u("tutorial", "tutorial|how-to|how to video|explainer|lesson|course video",
       "light|unobtrusive|calm", "ambient|chill|soft|electronic|easy listening", (85, 115),
       narrated=True),
    _u("corporate", "corporate|business video|company video|presentation|keynote|conference",
       "uplifting|confident|optimistic", "easy listening|electronic|pop|piano|happy", (95, 120)),
    _u("meditation", "meditation|meditate|yoga|mindfulness|sleep video|spa|breathing exercise",
       "serene|peaceful|calm", "ambient|new age|soft|quiet|slow|chillout", (50, 85)),
    _u("gaming", "gaming|gameplay|game montage|let's play|esports|e-sports|speedrun|montage",
       "intense|energetic|epic", "electronic|electro|techno|fast|dance|metal", (120, 160)),
    _u("real estate", "real estate|property tour|house tour|home tour|apartment tour|"
       "open house|property video", "elegant|warm|relaxed",
       "easy listening|acoustic|piano|chill|mellow", (85, 115)),
    _u("kids", "kids|kid's|kids'|children|children's|toddler|birthday", "playful|whimsical|joyful",
       "happy|pop|catchy|dance", (100, 135)),
    _u("documentary", "documentary|documentaries|docu|nature film|wildlife film|wildlife video|"
       "nature video", "majestic|serene|cinematic",
       "ambient|classical|strings|piano|new age|instrumental", (60, 105)),
    _u("unboxing", "unboxing|haul video|tech review|product review|review video",
       "light|playful|upbeat", "electronic|pop|happy|chill|catchy", (95, 125)),
    _u("fashion", "fashion|lookbook|runway|catwalk|outfit video|ootd|makeup video",
       "stylish|cool|confident", "electronic|house|dance|sexy|electro|pop", (100, 128)),
    _u("podcast", "podcast|interview|talking head|talk show", "calm|light",
       "ambient|chill|easy listening|soft|instrumental", (80, 110), narrated=True),
    _u("timelapse", "timelapse|time-lapse|time lapse|hyperlapse", "dreamy|flowing|serene",
       "ambient|electronic|chillout|new age", (70, 115)),
)  # fmt: skip

# Styles and genres outside the concept table that people name ("cinematic", "lo-fi"):
# more targets for open words (engine/word_map.py), beside the mood lexicon and tags.
STYLE_WORDS: tuple[str, ...] = (
    "cinematic", "moody", "lo-fi", "groovy", "minimal", "glitchy", "noir", "western",
    "medieval", "celtic", "latin", "reggae", "ska", "gospel", "lullaby", "christmas",
    "bossa nova", "flamenco", "tango", "waltz", "march", "anthem", "ballad", "trap",
    "dubstep", "drum and bass", "trance", "disco", "swing", "baroque", "gothic", "thriller",
    "orchestral", "chiptune", "synthwave", "grunge", "emo", "psychedelic", "industrial",
    "cozy",  # the mood lexicon spells it "cosy"
)  # fmt: skip
