"""e2e in a real browser: Debian's headless Chromium driven by Playwright, with a fake microphone
fed from a WAV of recorded English speech. Screenshots go to test-artifacts/."""
from __future__ import annotations

import json
import re
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ARTIFACTS
from tests.support import Service, browser
from tests.support.speech import clips

pytestmark = [pytest.mark.e2e, pytest.mark.browser]



@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two LibriVox sentences with pauses (Chromium loops the file as the microphone)."""
    data = clips()
    silence = b"\0" * 32000
    path = tmp_path_factory.mktemp("mic") / "speech.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(silence + data[0][0] + silence + data[1][0] + silence * 3)
    return path


@pytest.fixture(scope="module")
def chromium(speech_wav: Path) -> Iterator[Any]:
    with browser.chromium("--allow-loopback-in-peer-connection",
                          "--autoplay-policy=no-user-gesture-required",
                          f"--use-file-for-fake-audio-capture={speech_wav}") as launched:
        yield launched


class Person:
    """One browser profile (its own storage, so its own signed-in user) with one page."""

    def __init__(self, chromium: Any, url: str, name: str, language: str, path: str = "/") -> None:
        self.context = chromium.new_context(permissions=["microphone"], accept_downloads=True,
                                            viewport={"width": 390, "height": 844})
        self.page = self.context.new_page()
        self.name = name
        # What the page's Content-Security-Policy refused (Chromium says so on the console).
        self.refused: list[str] = []
        self.page.on("console", lambda m: self.refused.append(m.text)
                     if "Content Security Policy" in m.text else None)
        self.page.goto(url + path)
        self.page.get_by_label("Your name").fill(name)
        self.page.get_by_label("The language you speak and read").select_option(language)
        self.page.get_by_role("button", name="Continue").click()

    def create_room(self) -> str:
        self.page.get_by_role("button", name="Create a room").click()
        self.page.locator("#room").wait_for()
        return str(self.page.locator("#room-code-label").inner_text())

    def captions(self) -> list[dict[str, str]]:
        return list(self.page.eval_on_selector_all("#captions li.final", """els => els.map(e => ({
            id: e.dataset.id, who: e.querySelector('.who').textContent,
            text: e.querySelector('.text').textContent,
            orig: (e.querySelector('.orig') || {}).textContent || ''}))"""))

    def wait_captions(self, pred: Any, timeout_s: float = 40) -> list[dict[str, str]]:
        import time
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            got = self.captions()
            if pred(got):
                return got
            self.page.wait_for_timeout(250)
        raise AssertionError(f"{self.name}: captions never matched; have {self.captions()}")

    def say(self, text: str) -> None:
        self.page.get_by_label(re.compile("Type a message")).fill(text)
        self.page.get_by_role("button", name="Send").click()

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(ARTIFACTS / f"browser-{name}.png"), full_page=True)

    def close(self) -> None:
        self.context.close()


def _room_of_three(svc: Service, chromium: Any, people: list[Person],
                   path_a: str = "/") -> tuple[Person, ...]:
    ann = Person(chromium, svc.url, "Ann", "en", path_a)
    people.append(ann)
    code = ann.create_room()
    bea = Person(chromium, svc.url, "Bea", "es", f"/?room={code}")  # the invite link
    people.append(bea)
    bea.page.locator("#room").wait_for()
    cy = Person(chromium, svc.url, "Cy", "en")
    people.append(cy)
    cy.create_room()  # another room
    ann.page.locator("#participants li", has_text="Bea").wait_for()
    return ann, bea, cy


def _speak_and_check(ann: Person, bea: Person, cy: Person, tag: str) -> None:
    ann.say("Good morning.")
    bea.wait_captions(lambda cs: any(c["text"] == "Buenos días." and c["who"] == "Ann" for c in cs))
    ann.page.get_by_role("button", name="Start microphone").click()
    ann.page.locator("#mic-state", has_text="live").wait_for(timeout=30000)
    bea.page.locator("#captions li.interim").first.wait_for(timeout=40000)  # dimmed while Ann speaks
    got = bea.wait_captions(lambda cs: any("Dashwood" in c["orig"] for c in cs), 60)
    spoken = next(c for c in got if "Dashwood" in c["orig"])
    assert spoken["who"] == "Ann" and spoken["text"] and spoken["text"] != spoken["orig"]
    ann.shot(f"{tag}-speaker")
    bea.shot(f"{tag}-listener")
    ann.page.get_by_role("button", name="Stop microphone").click()
    ann.page.locator("#mic-state", has_text="off").wait_for()
    assert cy.captions() == [], "a person in another room saw captions"
    cy.shot(f"{tag}-other-room")
    assert [p.refused for p in (ann, bea, cy)] == [[], [], []], "the page broke its own CSP"


@pytest.mark.speech
@pytest.mark.livekit
def test_speech_over_livekit_reaches_the_other_browser_translated(embedded: Service, chromium: Any,
                                                                  people: list[Person]) -> None:
    ann, bea, cy = _room_of_three(embedded, chromium, people)
    assert ann.page.evaluate("window.__lt.features.voice === true")
    _speak_and_check(ann, bea, cy, "livekit")


@pytest.mark.speech
def test_speech_over_the_socket_audio_path_reaches_the_other_browser(embedded: Service, chromium: Any,
                                                                     people: list[Person]) -> None:
    ann, bea, cy = _room_of_three(embedded, chromium, people)
    assert ann.page.evaluate("window.__lt.features.voice === false")  # no LiveKit: direct path
    _speak_and_check(ann, bea, cy, "socket")


@pytest.mark.env(DISCONNECT_GRACE_S="30")
def test_a_dropped_listener_gets_every_caption_once_and_exports_them(embedded: Service, chromium: Any,
                                                                    people: list[Person]) -> None:
    ann, bea, _ = _room_of_three(embedded, chromium, people)
    ann.say("Good morning.")
    bea.wait_captions(lambda cs: len(cs) == 1)
    bea.context.set_offline(True)
    bea.page.locator("#conn", has_text="reconnecting").wait_for(timeout=20000)
    for text in ("Thank you very much.", "See you tomorrow.", "The house is big."):
        ann.say(text)
    ann.wait_captions(lambda cs: len(cs) == 4)
    bea.page.wait_for_timeout(2000)
    bea.context.set_offline(False)
    bea.page.locator("#conn", has_text="online").wait_for(timeout=30000)
    got = bea.wait_captions(lambda cs: len(cs) >= 4)
    bea.page.wait_for_timeout(1500)  # anything duplicated would have arrived by now
    got = bea.captions()
    assert len(got) == 4 and len({c["id"] for c in got}) == 4, got
    assert [c["orig"] or c["text"] for c in got][1:] == ["Thank you very much.", "See you tomorrow.",
                                                          "The house is big."]
    bea.shot("after-reconnect")

    bea.page.locator("#settings summary").click()
    files = {}
    for kind in ("srt", "vtt", "json"):
        with bea.page.expect_download() as dl:
            bea.page.get_by_role("button", name=kind.upper(), exact=True).click()
        files[kind] = Path(dl.value.path()).read_text()
    data = json.loads(files["json"])
    assert [c["originalText"] for c in data["captions"]] == ["Good morning.", "Thank you very much.",
                                                             "See you tomorrow.", "The house is big."]
    assert all(c["translatedText"] and c["sourceLang"] == "en" and c["targetLang"] == "es" and c["at"]
               for c in data["captions"])
    cues = [b for b in files["srt"].strip().split("\n\n") if b.strip()]
    assert len(cues) == 4
    for cue, cap in zip(cues, data["captions"], strict=True):
        lines = cue.splitlines()
        assert re.fullmatch(r"\d\d:\d\d:\d\d,\d{3} --> \d\d:\d\d:\d\d,\d{3}", lines[1])
        assert cap["translatedText"] in lines[2] and cap["originalText"] in lines[3]
    assert files["vtt"].startswith("WEBVTT")
    assert len(re.findall(r"\d\d:\d\d:\d\d\.\d{3} --> ", files["vtt"])) == 4


@pytest.mark.speech
def test_spoken_translations_play_in_order_never_overlap_and_never_your_own(
        embedded: Service, chromium: Any, people: list[Person]) -> None:
    ann, bea, cy = _room_of_three(embedded, chromium, people)
    for p in (ann, bea):
        p.page.locator("#settings summary").click()
        with p.page.expect_response(lambda r: r.url.endswith("/api/me") and r.request.method == "PATCH"):
            p.page.get_by_label("Read translations aloud").check()
    texts = ("Good morning.", "Thank you very much.", "See you tomorrow.")
    for text in texts:
        ann.say(text)
    bea.wait_captions(lambda cs: len(cs) == 3)
    bea.page.wait_for_function("() => (window.__lt.tts.log || []).filter(e => e.end !== null).length === 3",
                               timeout=30000)
    log = bea.page.evaluate("window.__lt.tts.log")
    order = [c["id"] for c in bea.captions()]
    assert [e["url"].split("#")[1].split("%3A")[0] for e in log] == order  # in the order said
    assert all(b["start"] >= a["end"] for a, b in zip(log, log[1:], strict=False))  # one at a time
    assert all(e["end"] - e["start"] > 300 for e in log)  # real audio played, not an error
    assert ann.page.evaluate("(window.__lt.tts.log || []).length") == 0  # never your own speech
    # Solo mode in the third browser: only Cy sees it, in Spanish.
    cy.page.locator("#settings summary").click()
    cy.page.get_by_label("Translate only for me (no room)").check()
    cy.page.get_by_label("Into").select_option("es")
    cy.say("Good morning.")
    got = cy.wait_captions(lambda cs: len(cs) == 1 and cs[0]["text"] == "Buenos días.")
    assert got[0]["orig"] == "Good morning."
    assert len(bea.captions()) == 3


@pytest.mark.speech
@pytest.mark.env(DISCONNECT_GRACE_S="30")
def test_a_listener_dropped_while_someone_speaks_gets_every_caption_once(
        embedded: Service, chromium: Any, people: list[Person]) -> None:
    ann, bea, _ = _room_of_three(embedded, chromium, people, "/?audio=socket")
    ann.page.get_by_role("button", name="Start microphone").click()
    ann.page.locator("#mic-state", has_text="live").wait_for(timeout=30000)
    bea.page.locator("#captions li.interim").first.wait_for(timeout=40000)  # Ann is speaking
    bea.context.set_offline(True)
    bea.page.locator("#conn", has_text="reconnecting").wait_for(timeout=20000)
    bea.page.wait_for_timeout(4000)
    bea.context.set_offline(False)
    bea.page.locator("#conn", has_text="online").wait_for(timeout=30000)
    ann.wait_captions(lambda cs: len(cs) >= 2, 60)  # both sentences recognised
    ann.page.get_by_role("button", name="Stop microphone").click()
    ann.page.locator("#mic-state", has_text="off").wait_for()
    said = {c["id"] for c in ann.wait_captions(lambda cs: len(cs) >= 2)}
    got = bea.wait_captions(lambda cs: {c["id"] for c in cs} >= said, 30)
    bea.page.wait_for_timeout(1500)
    got = bea.captions()
    assert len(got) == len({c["id"] for c in got}), "a caption was shown twice"
    assert {c["id"] for c in got} == {c["id"] for c in ann.captions()}
    bea.shot("reconnect-during-speech")


def test_the_page_marks_what_a_language_gets_and_solo_defaults_to_its_partner(
        embedded: Service, chromium: Any, people: list[Person]) -> None:
    """A Galician speaker is told recognition and the voice are poor before committing, finds
    Spanish (not the first entry) as the solo default, sees each target's quality and route, and
    gets a translation into it."""
    xo = Person(chromium, embedded.url, "Xoán", "gl")
    people.append(xo)
    note = xo.page.locator("#language-note").text_content() or ""
    assert "recognition: poor" in note and "Portuguese" in note, note
    xo.create_room()
    xo.page.locator("#settings summary").click()
    target = xo.page.get_by_label("Into")
    assert target.input_value() == "es"
    options = dict(zip(target.locator("option").evaluate_all("os => os.map(o => o.value)"),
                       target.locator("option").all_inner_texts(), strict=True))
    assert "gl" not in options  # not into your own language
    assert options["es"].endswith("— good") and options["it"].endswith("— fair, via Spanish")
    assert options["de"].endswith("— no local translation")
    xo.page.get_by_label("Translate only for me (no room)").check()
    xo.say("Bos días a todos.")
    got = xo.wait_captions(lambda cs: len(cs) == 1 and cs[0]["text"] == "Buenos días a todos.")
    assert got[0]["orig"] == "Bos días a todos."
    # An English speaker's default is Spanish too; a Spanish speaker's is English.
    for lang, partner in (("en", "es"), ("es", "en")):
        p = Person(chromium, embedded.url, "P" + lang, lang)
        people.append(p)
        p.create_room()
        p.page.locator("#settings summary").click()
        assert p.page.get_by_label("Into").input_value() == partner, lang


def _speech_on(p: Person) -> None:
    p.page.locator("#settings summary").click()
    with p.page.expect_response(lambda r: r.url.endswith("/api/me") and r.request.method == "PATCH"):
        p.page.get_by_label("Read translations aloud").check()


def _levels(p: Person) -> list[dict[str, Any]]:
    return list(p.page.evaluate("window.__lt.voice ? window.__lt.voice.mixer.samples : []"))


PLAYING = 0.01  # the page's own threshold for "a translation is playing" (web/src/voice.js)


@pytest.mark.speech
@pytest.mark.livekit
def test_a_voice_room_sounds_like_an_interpreted_meeting(embedded: Service, chromium: Any,
                                                         people: list[Person]) -> None:
    """Ann (en) speaks into her microphone over LiveKit; Bea (es) and Cy (fr) only listen. Each
    listener's page receives their own language's tts track (measured with WebAudio), never
    another's; Ann's speech never comes back to her; Bea hears Ann's original lowered while the
    Spanish plays."""
    ann = Person(chromium, embedded.url, "Ann", "en")
    people.append(ann)
    code = ann.create_room()
    bea = Person(chromium, embedded.url, "Bea", "es", f"/?room={code}")
    cy = Person(chromium, embedded.url, "Cy", "fr", f"/?room={code}")
    people.extend((bea, cy))
    for p in (ann, bea, cy):
        p.page.locator("#room").wait_for()
        _speech_on(p)
    for p in (bea, cy):
        p.page.get_by_role("button", name="Listen in voice").click()
        p.page.locator("#voice-state", has_text="listening").wait_for(timeout=30000)
    ann.page.get_by_role("button", name="Start microphone").click()
    ann.page.locator("#mic-state", has_text="live").wait_for(timeout=30000)

    got = bea.wait_captions(lambda cs: any("Dashwood" in c["orig"] for c in cs), 60)
    first = next(c for c in got if "Dashwood" in c["orig"])
    said_at = bea.page.evaluate("id => window.__lt.captions.get(id).at", first["id"])
    bea.page.wait_for_function("at => window.__lt.voice.mixer.samples.some(s => s.t > at && s.tts > 0.01)",
                               arg=said_at, timeout=20000)
    heard_at = min(s["t"] for s in _levels(bea) if s["t"] > said_at and s["tts"] > PLAYING)
    assert heard_at - said_at < 8000, f"Spanish speech came {heard_at - said_at:.0f} ms after Ann stopped"
    cy.page.wait_for_function("() => window.__lt.voice.mixer.samples.some(s => s.tts > 0.01)", timeout=60000)
    bea.page.wait_for_timeout(15000)  # more of Ann's speech, and its translations over it
    bea.shot("voice-listener")

    # Each page took its own language's track: the agent's permissions refuse any other.
    assert bea.page.evaluate("window.__lt.voice.heard").count("tts-es") == 1
    assert "tts-fr" in cy.page.evaluate("window.__lt.voice.heard")
    cy.page.evaluate("""() => {
        for (const p of window.__lt.voice.room.remoteParticipants.values())
          for (const pub of p.trackPublications.values())
            if (pub.trackName === 'tts-es') pub.setSubscribed(true);
      }""")
    cy.page.wait_for_timeout(3000)
    assert "tts-es" not in cy.page.evaluate("window.__lt.voice.heard")
    # Ann hears no translation of her own speech, in any form.
    assert not any(s["tts"] > PLAYING for s in _levels(ann))
    assert ann.page.evaluate("window.__lt.voice.lines.length") == 0
    assert ann.page.evaluate("(window.__lt.tts.log || []).length") == 0
    # Ducking: where Ann's original is loud, it reaches Bea's ears at about the chosen 25 % while
    # the Spanish plays, and whole when it does not.
    levels = [s for s in _levels(bea) if s["orig"] > 0.01]
    ducked = sorted(s["out"] / s["orig"] for s in levels if s["playing"] and s["gain"] < 0.5)
    open_ = sorted(s["out"] / s["orig"] for s in levels if not s["playing"] and s["gain"] > 0.95)
    assert len(ducked) >= 10 and len(open_) >= 10, (len(ducked), len(open_))
    assert 0.1 < ducked[len(ducked) // 2] < 0.4 and open_[len(open_) // 2] > 0.8, (ducked, open_)
    assert any(s["playing"] for s in levels) and any(s["tts"] > PLAYING for s in _levels(bea))
    # "Mute originals": nothing of Ann's voice reaches Bea, translation or not.
    bea.page.get_by_label("Mute originals").check()
    since = bea.page.evaluate("Date.now()") + 500  # the gain has settled by then
    # Ann's recording has pauses: wait for a second of her speaking after that.
    bea.page.wait_for_function(
        "t => window.__lt.voice.mixer.samples.filter(s => s.t > t && s.orig > 0.01).length >= 20",
        arg=since, timeout=30000)
    muted = [s for s in _levels(bea) if s["t"] > since and s["orig"] > 0.01]
    assert len(muted) >= 20 and all(s["out"] < 0.05 * s["orig"] for s in muted)
    assert bea.page.locator("#voice-lag").inner_text().startswith("spoken")
