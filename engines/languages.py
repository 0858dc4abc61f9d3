"""The languages users may pick, and what the local engines can do with each, in one table.

Codes are short BCP-47 base codes. Whether a pair can be translated is each engine's business (see
`Translator.supports`); this table says which codes are real languages, so that "xx" is rejected at
the door while "de" is accepted and answered with a clear "no engine translates en → de" if nothing
installed can do it. For the embedded engines it also says, per language, the code Apertium reads
and writes, Whisper's language, the espeak-ng voice, and an honest mark of how well each works.

Marks: "good", "fair", "poor" or "none", each with the reason. Local recognition is marked from our
own benchmark where we have real recordings of the language (bench/stt.py, bench/RESULTS.md) and
otherwise from Whisper's training data: the `base` model is usable on the big languages and weak on
those it saw little of. Voices are espeak-ng's (robotic but clear); a language without its own voice
borrows a neighbour's, marked "poor". Translation marks are per route (`translation_quality`).
"""
from __future__ import annotations

from dataclasses import dataclass

GOOD, FAIR, POOR, NONE = "good", "fair", "poor", "none"


@dataclass(frozen=True)
class Language:
    name: str
    iso3: str  # what Apertium calls it as a source (ISO 639-3)
    whisper: str | None  # Whisper's language code; None: Whisper does not know it
    voice: str | None  # espeak-ng voice; None: no local voice
    hearing: str  # mark for local recognition
    hearing_note: str
    voice_mark: str = FAIR
    voice_note: str = "espeak-ng: robotic but clear"
    apertium_out: str = ""  # what Apertium calls it as a target, where that differs (a variant)
    romance: bool = False  # Apertium is at its best between closely related languages

    @property
    def target_code(self) -> str:
        return self.apertium_out or self.iso3


_BIG = "not measured here; Whisper base was trained on much of this language"
_SMALL = "not measured here; Whisper base saw little of this language and often mishears it"


_PHONE = "8 kHz telephone prompts (harder than a microphone)"


def _measured(wer: str, what: str) -> str:
    return f"measured {wer} word error rate on {what} (bench/RESULTS.md)"


LANGUAGE_TABLE: dict[str, Language] = {
    "ar": Language("Arabic", "ara", "ar", "ar", FAIR, _BIG),
    "br": Language("Breton", "bre", "br", None, POOR, _SMALL, NONE, "no local voice"),
    "ca": Language("Catalan", "cat", "ca", "ca", FAIR, _BIG, romance=True),
    "de": Language("German", "deu", "de", "de", FAIR, _BIG),
    "en": Language("English", "eng", "en", "en", GOOD,
                   _measured("3-5 %", "real recordings (readings, telephone prompts, names)")),
    "eo": Language("Esperanto", "epo", None, "eo", NONE, "Whisper does not know Esperanto: "
                   "type, or use a premium engine"),
    "es": Language("Spanish", "spa", "es", "es", FAIR, _measured("19 %", _PHONE), romance=True),
    "eu": Language("Basque", "eus", "eu", "eu", POOR, _SMALL),
    "fr": Language("French", "fra", "fr", "fr", FAIR, _measured("15 %", _PHONE), romance=True),
    "gl": Language("Galician", "glg", "gl", "pt", POOR, _SMALL, POOR,
                   "no Galician voice: read with espeak-ng's Portuguese one", romance=True),
    "hi": Language("Hindi", "hin", "hi", "hi", POOR, _SMALL),
    "hr": Language("Croatian", "hbs", "hr", "hr", POOR, _SMALL, apertium_out="hbs_HR"),
    "is": Language("Icelandic", "isl", "is", "is", POOR, _SMALL),
    "it": Language("Italian", "ita", "it", "it", FAIR, _measured("18 %", _PHONE), romance=True),
    "ja": Language("Japanese", "jpn", "ja", "ja", FAIR, _BIG),
    "ko": Language("Korean", "kor", "ko", "ko", FAIR, _BIG),
    "mk": Language("Macedonian", "mkd", "mk", "mk", POOR, _SMALL),
    "nl": Language("Dutch", "nld", "nl", "nl", FAIR, _BIG),
    "oc": Language("Occitan", "oci", "oc", "ca", POOR, _SMALL, POOR,
                   "no Occitan voice: read with espeak-ng's Catalan one", romance=True),
    "pl": Language("Polish", "pol", "pl", "pl", FAIR, _BIG),
    "pt": Language("Portuguese", "por", "pt", "pt-br", FAIR, _BIG, romance=True),
    "ro": Language("Romanian", "ron", "ro", "ro", POOR, _SMALL, romance=True),
    "ru": Language("Russian", "rus", "ru", "ru", FAIR, _BIG),
    "sv": Language("Swedish", "swe", "sv", "sv", FAIR, _BIG),
    "tr": Language("Turkish", "tur", "tr", "tr", FAIR, _BIG),
    "uk": Language("Ukrainian", "ukr", "uk", "uk", POOR, _SMALL),
    "zh": Language("Chinese", "zho", "zh", "cmn", FAIR, _BIG),
}

LANGUAGES: dict[str, str] = {code: lang.name for code, lang in LANGUAGE_TABLE.items()}


def normalize(code: object) -> str | None:
    """Return the base code for a known language ('en-US' → 'en'), or None if unknown."""
    if not isinstance(code, str) or not 2 <= len(code) <= 16:
        return None
    base = code.replace("_", "-").split("-", 1)[0].lower()
    return base if base in LANGUAGES else None


# Apertium's names, both ways: a pair is named source-target with ISO 639-3 codes, a target
# sometimes a variant ("hbs_HR").
ISO3: dict[str, str] = {code: lang.iso3 for code, lang in LANGUAGE_TABLE.items()}
FROM_ISO3: dict[str, str] = {lang.iso3: code for code, lang in LANGUAGE_TABLE.items()}
TARGET_CODE: dict[str, str] = {code: lang.target_code for code, lang in LANGUAGE_TABLE.items()}
FROM_TARGET_CODE: dict[str, str] = {v: k for k, v in TARGET_CODE.items()}
WHISPER_LANGUAGES: frozenset[str] = frozenset(c for c, lang in LANGUAGE_TABLE.items() if lang.whisper)
VOICED_LANGUAGES: frozenset[str] = frozenset(c for c, lang in LANGUAGE_TABLE.items() if lang.voice)


MAX_ROUTE_PAIRS = 3  # two pivots at most: past that, chained rule-based translation is noise


def translation_quality(route: tuple[str, ...] | None) -> str:
    """The mark for a local translation along `route` (source, pivots…, target). Apertium is at its
    best between closely related languages: a direct pair between two Romance languages is good,
    any other direct pair fair (the gist, often in clumsy words). Each pivot adds its own errors:
    one pivot is fair when every step is between related languages, otherwise poor, and two pivots
    are poor. None: no route (or a longer one, not offered)."""
    if route is None or not 2 <= len(route) <= MAX_ROUTE_PAIRS + 1:
        return NONE
    kin = all(LANGUAGE_TABLE[c].romance for c in route)
    if len(route) == 2:
        return GOOD if kin else FAIR
    return FAIR if kin and len(route) == 3 else POOR


# The other language a speaker of each most often needs (English, and Spanish for English speakers,
# unless the region's own partner is another); the solo-mode default.
PARTNERS: dict[str, tuple[str, ...]] = {"en": ("es", "fr"), "ca": ("es", "en"), "eu": ("es", "en"),
                                         "gl": ("es", "en"), "oc": ("fr", "es"), "br": ("fr", "en")}
WIDELY_SPOKEN = ("en", "es", "fr", "pt", "de", "it", "ru", "zh", "ar", "hi", "ja")


def partner(code: str, reachable: set[str] | frozenset[str]) -> str:
    """The solo-mode default for a speaker of `code`: the first of their usual partners that the
    engines can reach, else the most widely spoken language they can, else the usual partner."""
    usual = PARTNERS.get(code, ("en",))
    for candidate in (*usual, *WIDELY_SPOKEN, *sorted(reachable)):
        if candidate != code and candidate in reachable:
            return candidate
    return usual[0]


def describe(code: str) -> dict[str, str]:
    """The local engines' marks for one language, for /api/languages and the page."""
    lang = LANGUAGE_TABLE[code]
    return {"code": code, "name": lang.name, "hearing": lang.hearing, "hearingNote": lang.hearing_note,
            "voice": lang.voice_mark if lang.voice else NONE, "voiceNote": lang.voice_note}
