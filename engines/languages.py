"""The languages users may pick, as short BCP-47 base codes, with their names.

Whether a pair can be translated is each engine's business (see `Translator.supports`); this list only
says which codes are real languages, so that "xx" is rejected at the door while "de" is accepted and
answered with a clear "no engine translates en → de" if nothing installed can do it.
"""
from __future__ import annotations

LANGUAGES: dict[str, str] = {
    "ar": "Arabic", "ca": "Catalan", "de": "German", "en": "English", "es": "Spanish",
    "fr": "French", "hi": "Hindi", "it": "Italian", "ja": "Japanese", "ko": "Korean",
    "nl": "Dutch", "pl": "Polish", "pt": "Portuguese", "ru": "Russian", "sv": "Swedish",
    "tr": "Turkish", "uk": "Ukrainian", "zh": "Chinese",
}


def normalize(code: object) -> str | None:
    """Return the base code for a known language ('en-US' → 'en'), or None if unknown."""
    if not isinstance(code, str) or not 2 <= len(code) <= 16:
        return None
    base = code.replace("_", "-").split("-", 1)[0].lower()
    return base if base in LANGUAGES else None

# ISO 639-3 codes, as Apertium names its language pairs.
ISO3: dict[str, str] = {
    "ar": "ara", "ca": "cat", "de": "deu", "en": "eng", "es": "spa", "fr": "fra", "hi": "hin",
    "it": "ita", "ja": "jpn", "ko": "kor", "nl": "nld", "pl": "pol", "pt": "por", "ru": "rus",
    "sv": "swe", "tr": "tur", "uk": "ukr", "zh": "zho",
}
FROM_ISO3: dict[str, str] = {v: k for k, v in ISO3.items()}
