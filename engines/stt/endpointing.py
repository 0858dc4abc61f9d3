"""Does a transcript look like a finished phrase? A short pause ends an utterance only when it does,
so "Front … Left" stays one caption while "Please try again." ends at once.

Whisper punctuates what it hears: a finished sentence ends in . ? or !, a phrase that trails off
ends in "…" or nothing. A single word or a last word that cannot end a phrase (an article, a
preposition, a conjunction) is taken as unfinished whatever the punctuation: Whisper puts a full
stop after a lone "Front." too.
"""
from __future__ import annotations

import re

_END = re.compile(r"[.?!。？！]['\"»”’)\]]*$")
_TRAILING_OFF = re.compile(r"(\.\.\.|…)['\"»”’)\]]*$")
_WORD = re.compile(r"\w+(?:'\w+)?")

# Words that do not end a phrase, by language: articles, prepositions, conjunctions, possessives.
DANGLING: dict[str, frozenset[str]] = {
    "en": frozenset("a an the and or but so to of in on at for with from by as that my your our "
                    "their his her its is are was were be if than then because".split()),
    "es": frozenset("el la los las un una unos unas y o pero de del a al en con por para que mi tu "
                    "su sus nuestro es son si porque como".split()),
    "fr": frozenset("le la les un une des et ou mais de du à au aux en avec pour par que mon ma mes "
                    "ton ta tes son sa ses est si parce comme".split()),
    "it": frozenset("il lo la i gli le un uno una e o ma di del della a al in con per che mio mia "
                    "tuo tua suo sua è se perché come".split()),
    "pt": frozenset("o a os as um uma e ou mas de do da em no na com por para que meu minha seu sua "
                    "é se porque como".split()),
    "ca": frozenset("el la els les un una i o però de del a al en amb per que meu meva seu seva "
                    "és si perquè com".split()),
    "de": frozenset("der die das den dem des ein eine einen und oder aber zu von in an auf für mit "
                    "dass mein dein sein ihr ist wenn weil als".split()),
}


def looks_finished(text: str, language: str, *, min_words: int = 2) -> bool:
    """True when `text` ends a phrase: sentence punctuation, at least `min_words` words, and a last
    word that can end a phrase in `language` (languages without a list are judged on the rest)."""
    text = text.strip()
    if not _END.search(text) or _TRAILING_OFF.search(text):
        return False
    words = [w.lower() for w in _WORD.findall(text)]
    if len(words) < min_words:
        return False
    return words[-1] not in DANGLING.get(language, frozenset())
