"""Real recorded human speech that ships in Debian packages, with reference transcripts, and the
scoring (normalisation and word error rate) used by `bench/stt.py` and the speech tests.

Every set is a real person speaking, none of it synthetic:

- `librivox` (pocketsphinx-testdata): a LibriVox reader, 16 kHz sentences; `librivox/transcription`.
- `cards` (pocketsphinx-testdata): one speaker, 16 kHz card names and "go forward ten meters";
  `cards.transcription` and the goforward grammar.
- `alsa` (alsa-utils): speaker-test's voice, 48 kHz, two words with a pause ("Front … Left");
  the file names.
- `asterisk-en` (asterisk-core-sounds-en, -en-wav): Allison Smith, 8 kHz telephone prompts;
  `core-sounds-en.txt`. `asterisk-es` / `-fr` / `-it` likewise: Allison (es-MX), June (fr-CA),
  Carlo (it).
- `codec2` (codec2-examples): several speakers (radio amateurs, read Harvard sentences), 8 kHz, up
  to 112 s; no transcripts, so loops only.

Held out — other speakers and accents of the same languages, **never used to tune the stream**: run
them only to check a change chosen on the sets above (bench/RESULTS.md says so of every figure):

- `heldout-es` (asterisk-prompt-es-co): July Jiménez, Colombian Spanish, 8 kHz GSM. Its prompts
  are another translation than core-sounds-es.txt ("Marque 5 para dejar mensaje" is said
  "Presione 5 para dejar un mensaje de voz"), so only the words of its `digits/` folder that do
  not depend on the translation are scored: numbers, days, months, today/tomorrow/yesterday.
- `heldout-fr` (asterisk-prompt-fr-armelle): Armelle Desjardins, French, 8 kHz GSM; `digits/`
  likewise (its prompts are another translation than core-sounds-fr.txt too).
- `heldout-it` (asterisk-prompt-it-menardi-wav): a woman's Italian voice (Menardi), 8 kHz; the
  prompts read the texts of core-sounds-it.txt, so prompts and `digits/` are scored.
- `heldout-es-prompts` / `heldout-fr-prompts`: the es-co and fr-armelle prompts themselves
  (sentences up to ~10 s) without a reference: loops, and how far the stream's words are from the
  whole-file decode of the same recording (bench/stt.py `stream_vs_whole`).

asterisk-prompt-es-co and -fr-armelle conflict with asterisk-core-sounds-es and -fr (they all
provide asterisk-prompt-es / -fr), which only carry core-sounds-XX.txt: `bench/data/` has a copy
of those two files (CC-BY-SA-3.0), read when the package is not installed.

Recordings without a reference still count for decoder loops, which need no reference. Every clip is
returned as 16 kHz mono PCM16 (resampled with soxr), the rate every stream takes.
"""
from __future__ import annotations

import gzip
import re
import subprocess
import unicodedata
import wave
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

POCKETSPHINX = Path("/usr/share/pocketsphinx/test/data")
ALSA = Path("/usr/share/sounds/alsa")
ASTERISK = Path("/usr/share/asterisk/sounds")
ASTERISK_DOC = Path("/usr/share/doc")
CODEC2 = Path("/usr/share/codec2")
ASTERISK_VOICES = {"en": "en_US_f_Allison", "es": "es_MX_f_Allison", "fr": "fr_CA_f_June",
                   "it": "it_IT_m_Carlo"}
DATA = Path(__file__).resolve().parent / "data"  # core-sounds-es/fr.txt (see the docstring)
# Held-out voices: language → (package, folder of its recordings, what is scored).
HELDOUT = {"es": ("asterisk-prompt-es-co", ASTERISK / "es", "digits"),
           "fr": ("asterisk-prompt-fr-armelle", ASTERISK / "fr", "digits"),
           "it": ("asterisk-prompt-it-menardi-wav", ASTERISK / "it_IT_f_Menardi", "all")}
# Debian packages that hold the recordings (scripts/setup.sh installs them for `make test`).
# asterisk-core-sounds-es / -fr are not among them: they conflict with the held-out voices and
# carry only the transcripts, copied in bench/data/.
PACKAGES = ("pocketsphinx-testdata", "alsa-utils", "codec2-examples", "asterisk-core-sounds-en",
            "asterisk-core-sounds-it",
            *(f"asterisk-core-sounds-{lang}-wav" for lang in ASTERISK_VOICES),
            *(pkg for pkg, _, _ in HELDOUT.values()))
TUNING_SETS = ("librivox", "cards", "alsa", "asterisk-en", "asterisk-es", "asterisk-fr",
               "asterisk-it", "codec2")
HELDOUT_SETS = ("heldout-es", "heldout-fr", "heldout-it", "heldout-es-prompts",
                "heldout-fr-prompts")
SETS = TUNING_SETS + HELDOUT_SETS


@dataclass(frozen=True)
class Clip:
    """One recording: 16 kHz mono PCM16, its language and reference (None: loops only)."""

    set: str
    name: str
    language: str
    pcm: bytes
    ref: str | None

    @property
    def seconds(self) -> float:
        return len(self.pcm) / 32000


def _to16k(samples: bytes, rate: int, channels: int = 1) -> bytes:
    import numpy as np
    import soxr
    audio = np.frombuffer(samples, dtype=np.int16)
    if channels > 1:
        audio = audio.reshape(-1, channels).mean(axis=1).astype(np.int16)
    if rate != 16000:
        audio = soxr.resample(audio, rate, 16000, quality="HQ")
    return bytes(audio.astype(np.int16).tobytes())


def read_wav(path: Path) -> bytes:
    """A WAV file of any rate and channel count, as 16 kHz mono PCM16 (sox decodes the μ-law ones)."""
    try:
        with wave.open(str(path)) as w:
            if w.getsampwidth() == 2:
                return _to16k(w.readframes(w.getnframes()), w.getframerate(), w.getnchannels())
    except wave.Error:
        pass  # not plain PCM: let sox decode it
    return subprocess.run(["sox", str(path), "-t", "raw", "-e", "signed", "-b", "16", "-c", "1",
                           "-r", "16000", "-"], check=True, capture_output=True).stdout


def _librivox() -> Iterable[Clip]:
    base = POCKETSPHINX / "librivox"
    refs = dict((m.group(2), m.group(1)) for line in (base / "transcription").read_text().splitlines()
                if (m := re.match(r"<s> (.*) </s> \((.*)\)", line)))
    for wav in sorted(base.glob("*.wav")):
        yield Clip("librivox", wav.stem, "en", read_wav(wav), refs[wav.stem])


def _cards() -> Iterable[Clip]:
    base = POCKETSPHINX / "cards"
    refs = dict((m.group(2), m.group(1).strip()) for line in
                (base / "cards.transcription").read_text().splitlines()
                if (m := re.match(r"<s> (.*) </s> \((.*)\)", line)))
    for wav in sorted(base.glob("*.wav")):
        yield Clip("cards", wav.stem, "en", read_wav(wav), refs[wav.stem])
    # goforward.raw: 16 kHz PCM16; its sentence is the one goforward.gram/.kws are written for.
    yield Clip("cards", "goforward", "en", (POCKETSPHINX / "goforward.raw").read_bytes(),
               "go forward ten meters")


def _alsa() -> Iterable[Clip]:
    for wav in sorted(ALSA.glob("*_*.wav")):  # Front_Left.wav says "Front ... Left"; Noise.wav is noise
        yield Clip("alsa", wav.stem, "en", read_wav(wav), wav.stem.replace("_", " "))


def _core_sounds_text(lang: str) -> str:
    doc = ASTERISK_DOC / f"asterisk-core-sounds-{lang}" / f"core-sounds-{lang}.txt.gz"
    if doc.exists():
        return gzip.decompress(doc.read_bytes()).decode("utf-8", "replace")
    return (DATA / f"core-sounds-{lang}.txt").read_text("utf-8", "replace")


def asterisk_refs(lang: str, *, folders: tuple[str, ...] = ()) -> dict[str, str]:
    """Prompt name → transcript, from the package's core-sounds-XX.txt (tones and notes dropped);
    with `folders`, also the prompts of those sub-folders ("digits/mon-8": "Septiembre")."""
    text = _core_sounds_text(lang)
    refs = {}
    for line in text.splitlines():
        name, sep, ref = line.partition(":")
        ref = ref.strip()
        if not sep or line.startswith(";") or not ref or "[" in ref or "<" in ref:
            continue
        if "/" in name and name.split("/")[0].strip() not in folders:
            continue
        ref = re.sub(r"\([^)]*\)", " ", ref).strip()  # "(beep)", "(You are now muted.)": notes
        if ref:
            refs[name.strip()] = ref
    return refs


def _asterisk(lang: str, every: int) -> Iterable[Clip]:
    base = ASTERISK / ASTERISK_VOICES[lang]
    for i, (name, ref) in enumerate(sorted(asterisk_refs(lang).items())):
        wav = base / f"{name}.wav"
        if i % every == 0 and wav.exists():
            yield Clip(f"asterisk-{lang}", name, lang, read_wav(wav), ref)


def _sound(base: Path, name: str) -> Path | None:
    return next((p for p in (base / f"{name}.wav", base / f"{name}.gsm") if p.exists()), None)


def _heldout_base(lang: str) -> Path:
    pkg, base, _ = HELDOUT[lang]
    # /usr/share/asterisk/sounds/es and /fr are the core sounds (a symlink to Allison's and
    # June's folders) when asterisk-core-sounds-es/-fr are installed instead: never score those.
    if base.is_symlink() or not base.is_dir():
        raise FileNotFoundError(f"{base} is not {pkg}'s folder: apt-get install {pkg} "
                                "(it replaces asterisk-core-sounds-" + lang + ")")
    return base


def _heldout(lang: str, every: int) -> Iterable[Clip]:
    """A held-out voice's scored recordings (see the module docstring)."""
    _, _, scored = HELDOUT[lang]
    base = _heldout_base(lang)
    refs = asterisk_refs(lang, folders=("digits",))
    # digits/N says the number N (core-sounds-es.txt has "digits/0: diez" for 10): scored as N.
    refs.update({f"digits/{p.stem}": p.stem for p in (base / "digits").glob("*.*") if p.stem.isdigit()})
    if scored == "digits":
        # Numbers, days, months, today/tomorrow/yesterday: the same words whoever translated.
        keep = re.compile(r"digits/(\d+|day-\d|mon-\d+|today|tomorrow|yesterday)$")
        refs = {k: v for k, v in refs.items() if keep.match(k)}
    have = sorted((name, ref, wav) for name, ref in refs.items() if (wav := _sound(base, name)))
    for name, ref, wav in have[::1 if scored == "digits" else every]:  # digits: ~1 min, all
        yield Clip(f"heldout-{lang}", name, lang, read_wav(wav), ref)


def _heldout_prompts(lang: str, every: int) -> Iterable[Clip]:
    """A held-out voice's own prompts, without a reference (loops, stream vs whole-file)."""
    base = _heldout_base(lang)
    skip = ("beep", "beeperr")  # tones
    wavs = sorted(p for p in base.glob("*.gsm") if p.stem not in skip)
    for wav in wavs[::every]:
        yield Clip(f"heldout-{lang}-prompts", wav.stem, lang, read_wav(wav), None)


def _codec2() -> Iterable[Clip]:
    for wav in sorted((CODEC2 / "wav").glob("*.wav")):
        pcm = read_wav(wav)
        if len(pcm) >= 32000 * 3:  # the 1-3 s codec snippets repeat the longer ones
            yield Clip("codec2", wav.stem, "en", pcm, None)


def load(sets: Iterable[str] = TUNING_SETS, *, asterisk_every: int = 8,
         heldout_every: int | None = None) -> list[Clip]:
    """The clips of the named sets, in a fixed order. `asterisk_every` keeps every n-th prompt of
    each asterisk language (8: about 2.5 minutes each; 1: all of them, about 21 minutes each);
    `heldout_every` the same for heldout-it and the held-out prompts (default: `asterisk_every`;
    heldout-es and -fr are always whole: about a minute each)."""
    out: list[Clip] = []
    h_every = heldout_every or asterisk_every
    for name in sets:
        if name.endswith("-prompts") and name.startswith("heldout-"):
            out += _heldout_prompts(name.split("-")[1], h_every)
        elif name.startswith("heldout-"):
            out += _heldout(name.removeprefix("heldout-"), h_every)
        elif name.startswith("asterisk-"):
            out += _asterisk(name.removeprefix("asterisk-"), asterisk_every)
        elif name in ("librivox", "cards", "alsa", "codec2"):
            out += {"librivox": _librivox, "cards": _cards, "alsa": _alsa, "codec2": _codec2}[name]()
        else:
            raise ValueError(f"unknown set {name!r}; known: {', '.join(SETS)}")
    return out


def trimmed(pcm: bytes, threshold: float = 0.05) -> bytes:
    """A recording without the silence before its first and after its last loud 10 ms (above
    `threshold` of its peak): what a reader who does not pause between sentences sounds like."""
    import numpy as np
    audio = np.frombuffer(pcm, dtype=np.int16)
    frames = len(audio) // 160
    if not frames:
        return pcm
    peaks = np.abs(audio[:frames * 160].astype(np.int32)).reshape(frames, 160).max(axis=1)
    loud = np.nonzero(peaks >= threshold * max(1, int(peaks.max())))[0]
    if not len(loud):
        return pcm
    return bytes(audio[loud[0] * 160:(loud[-1] + 1) * 160].tobytes())


def continuous(clips: list[Clip], gap_s: float = 0.12) -> tuple[bytes, list[tuple[float, str]]]:
    """Recordings read one after another with only a breath between them (`gap_s`, shorter than
    any pause that ends an utterance): one long utterance. Returns the audio and, per recording,
    (its start in seconds, its reference)."""
    gap = b"\0" * (int(gap_s * 16000) * 2)
    out, starts = bytearray(), []
    for c in clips:
        starts.append((len(out) / 32000, c.ref or ""))
        out += trimmed(c.pcm) + gap
    return bytes(out), starts


# --- scoring -------------------------------------------------------------------------------

_SPOKEN = {"mr": "mister", "mrs": "missus", "dr": "doctor", "ok": "okay", "voicemail": "voice mail",
           "e-mail": "email"}


def _number_words(token: str, lang: str) -> str:
    from num2words import num2words
    try:
        return str(num2words(int(token), lang=lang))
    except (NotImplementedError, OverflowError, ValueError):
        return token


def normalize(text: str, lang: str = "en") -> list[str]:
    """Words for scoring: lower case, accents and punctuation dropped, digits spelled out in the
    language (Whisper writes "press 1", the prompts "press one", and the other way round),
    hyphens split, a few spoken forms unified."""
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = re.sub(r"(\d),(\d{3})", r"\1\2", text)
    text = re.sub(r"\d+", lambda m: f" {_number_words(m.group(0), lang)} ", text)
    text = re.sub(r"[’`]", "'", text).replace("-", " ")
    words = re.sub(r"[^\w' ]", " ", text).split()
    out: list[str] = []
    for w in words:
        w = w.strip("'")
        out += _SPOKEN.get(w, w).split() if w else []
    return out


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    """Word-level Levenshtein distance (substitutions, insertions, deletions)."""
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


def wer(ref: str, hyp: str, lang: str = "en") -> tuple[int, int]:
    """(word edits, reference words) after normalisation."""
    r = normalize(ref, lang)
    return edit_distance(r, normalize(hyp, lang)), len(r)


def repeats_itself(text: str, *, word_run: int = 4, min_phrase: int = 3, times: int = 2) -> bool:
    """A decoder loop's signature: one word `word_run`+ times in a row, or a phrase of `min_phrase`+
    words said `times` times back to back ("It was the age of wisdom. It was the age of wisdom.").
    Recordings without a reference are scored with times=3: their speakers do repeat a call sign
    twice ("Victor Kilo five, Quebec Italy, Victor Kilo five, Quebec Italy")."""
    words = normalize(text, "en")
    run = 1
    for a, b in zip(words, words[1:], strict=False):
        run = run + 1 if a == b else 1
        if run >= word_run:
            return True
    n = len(words)
    for size in range(min_phrase, n // times + 1):
        for i in range(n - times * size + 1):
            if all(words[i:i + size] == words[i + k * size:i + (k + 1) * size] for k in range(1, times)):
                return True
    return False


def is_loop(clip_ref: str | None, text: str) -> bool:
    """A final that repeats itself where the reference does not (no reference: a triple repeat)."""
    if clip_ref is None:
        return repeats_itself(text, times=3)
    return repeats_itself(text) and not repeats_itself(clip_ref)
