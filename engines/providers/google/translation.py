"""Google translation: Cloud Translation v3 `TranslateText` (gRPC), plain text.

Wire (cloud.google.com/translate/docs/reference/rpc/google.cloud.translation.v3): a request has
`parent` ("projects/<project>/locations/global"), `contents` (the texts), `mime_type`
("text/plain": the text is not HTML, so "<" and "&" stay as said), `source_language_code` and
one `target_language_code`; the answer has one `translations[i].translated_text` per content.

One request per target: v3 takes a single target language per request, so an utterance's
targets are asked for at once, in parallel, and the utterance waits for one round trip.

The room's glossary: v3 glossaries are resources made in advance from a file in Cloud Storage, not
a list sent along. The terms are therefore kept by taking them out before the request (each
replaced by a numbered placeholder Google leaves alone) and putting them back in the answer; if a
placeholder does not come back whole, the text is asked for again as it is.
"""
from __future__ import annotations

import logging
import re
import threading
import time
from typing import Any

from engines.errors import EngineError
from engines.languages import LANGUAGE_TABLE
from engines.providers.google.config import LABEL, NAME, Clients, GoogleConfig, call
from engines.translation.base import BatchTranslator, Capabilities, Context, Translation

logger = logging.getLogger(__name__)

MAX_CHARS = 30000  # v3: recommended total per request
_PLACEHOLDER = "⟦{}⟧"
_PLACEHOLDER_RE = re.compile(r"⟦\s*(\d+)\s*⟧")


def _classes() -> tuple[Any, Any]:
    from google.cloud.translate_v3 import TranslationServiceClient
    from google.cloud.translate_v3.services.translation_service.transports import (
        TranslationServiceGrpcTransport,
    )
    return TranslationServiceClient, TranslationServiceGrpcTransport


class GoogleTranslator(BatchTranslator):
    """Every language of the table, both ways (Cloud Translation knows them all)."""


    def __init__(self, config: GoogleConfig) -> None:
        self.config = config
        self.name = NAME
        self.clients = Clients(config, _classes)
        self.requests = 0

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(offline=False, languages=frozenset(LANGUAGE_TABLE),
                            note=f"{LABEL} Translation v3")

    def supports(self, source: str, target: str) -> bool:
        return source in LANGUAGE_TABLE and target in LANGUAGE_TABLE

    def status(self) -> dict[str, Any]:
        return dict(super().status(), premium=True, requests=self.requests)

    def close(self) -> None:
        self.clients.close()

    def translate_many(self, text: str, source: str, targets: list[str],
                       context: Context | None = None) -> dict[str, Translation]:
        self.check_targets(source, targets)
        if len(text) > MAX_CHARS:
            raise EngineError(f"{LABEL} translates at most {MAX_CHARS} characters at once",
                              engine=NAME)
        out = {t: Translation(text, source, t, self.name, 0.0, (source,)) for t in targets if t == source}
        wanted = list(dict.fromkeys(t for t in targets if t != source))
        if not wanted:
            return out
        self.config.check_budget("characters")
        glossary = (context or Context()).glossary
        started = time.perf_counter()
        texts: dict[str, tuple[str, int]] = {}
        errors: list[EngineError] = []

        def one(target: str) -> None:
            try:
                texts[target] = self.request(text, source, target, glossary)
            except EngineError as exc:
                errors.append(exc)
            except Exception as exc:  # noqa: BLE001 - never a thread that dies without a word
                logger.warning("Google translation failed", exc_info=True, extra={"engine": NAME})
                errors.append(EngineError(f"{LABEL} translation failed: {type(exc).__name__}",
                                          engine=NAME, retryable=True))

        threads = [threading.Thread(target=one, args=(t,), daemon=True) for t in wanted[1:]]
        for th in threads:
            th.start()
        one(wanted[0])
        for th in threads:
            th.join()
        if errors:
            raise errors[0]
        elapsed = (time.perf_counter() - started) * 1000
        for t in wanted:
            said, billed = texts[t]
            out[t] = Translation(said, source, t, self.name, elapsed, (source, t),
                                 {"characters": float(billed)})
        return out

    def request(self, text: str, source: str, target: str, glossary: tuple[str, ...]) -> tuple[str, int]:
        """One TranslateText: `text` into `target`, the glossary's terms kept as written; and the
        characters Google billed for it (twice the text when it had to be asked again)."""
        protected, terms = protect(text, glossary)
        answer = self._ask(protected, source, target)
        if terms:
            restored = restore(answer, terms)
            if restored is not None:
                return restored, len(protected)
            # A placeholder was lost: ask plainly.
            return self._ask(text, source, target), len(protected) + len(text)
        return answer, len(text)

    def _ask(self, text: str, source: str, target: str) -> str:
        client = self.clients.get()
        request = {"parent": f"projects/{self.config.project or '-'}/locations/{self.config.location}",
                   "contents": [text], "mime_type": "text/plain",
                   "source_language_code": source, "target_language_code": target}
        self.requests += 1
        reply = call("translation", lambda: client.translate_text(
            request=request, timeout=self.config.timeout_s, retry=None))
        try:
            out = str(reply.translations[0].translated_text).strip()
        except (IndexError, AttributeError):
            out = ""
        if not out:
            raise EngineError(f"{LABEL} answered without a translation", engine=NAME, retryable=True)
        return out


def protect(text: str, glossary: tuple[str, ...]) -> tuple[str, list[str]]:
    """`text` with each glossary term it contains (longest first, whole words, any case) replaced
    by a numbered placeholder; and the terms as they are to be written, by number."""
    terms: list[str] = []
    for term in sorted({t.strip() for t in glossary if t.strip()}, key=len, reverse=True):
        pattern = re.compile(r"(?<!\w)" + re.escape(term) + r"(?!\w)", re.IGNORECASE)
        if pattern.search(text):
            text = pattern.sub(_PLACEHOLDER.format(len(terms)).replace("\\", "\\\\"), text)
            terms.append(term)
    return text, terms


def restore(text: str, terms: list[str]) -> str | None:
    """The placeholders of `text` replaced by their terms; None if one is missing or unknown."""
    seen: set[int] = set()

    def back(m: re.Match[str]) -> str:
        n = int(m.group(1))
        seen.add(n)
        return terms[n] if n < len(terms) else m.group(0)

    out = _PLACEHOLDER_RE.sub(back, text)
    return out if seen == set(range(len(terms))) else None
