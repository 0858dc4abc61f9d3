"""e2e in a real browser (Debian's headless Chromium driven by Playwright): the engine choices list
every engine with what it lacks, voices come from the engine's own list, and a room owner's glossary
reaches everyone in the room. The service runs without an xAI key, so Grok is listed but disabled."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.test_browser_e2e import Person
from tests.support import Service, browser

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.env(XAI_API_KEY="")]

ENGINE_SELECTS = {"stt-engine": "Speech recognition", "translation-engine": "Translation",
                  "tts-engine": "Voice engine"}


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with browser.chromium() as launched:
        yield launched


def _options(page: Any, select_id: str) -> dict[str, dict[str, Any]]:
    got = page.locator(f"#{select_id} option").evaluate_all(
        "os => os.map(o => ({value: o.value, text: o.textContent, disabled: o.disabled}))")
    return {o["value"]: o for o in got}


def test_engine_choices_show_grok_disabled_with_why_and_voices_start_with_the_default(
        embedded: Service, chromium: Any, people: list[Person]) -> None:
    ann = Person(chromium, embedded.url, "Ann", "en")
    people.append(ann)
    ann.create_room()
    page = ann.page
    page.locator("#settings summary").click()
    for select_id, label in ENGINE_SELECTS.items():
        assert page.get_by_label(label, exact=True).get_attribute("id") == select_id  # labelled
        assert page.locator(f"#{select_id}").evaluate("e => e.tagName") == "SELECT"
        options = _options(page, select_id)
        grok, local = options.get("grok"), options.get("local")
        assert grok and local, (select_id, options)
        assert grok["disabled"] and "unavailable: " in grok["text"] and "premium" in grok["text"], grok
        assert not local["disabled"], local
        assert page.locator(f"#{select_id}").input_value() == "local"

    # The speech recognition choice is saved as sttEngine.
    with page.expect_response(lambda r: r.url.endswith("/api/me") and r.request.method == "PATCH") as saved:
        page.get_by_label("Speech recognition", exact=True).select_option("local")
    assert saved.value.request.post_data_json == {"sttEngine": "local"}
    assert saved.value.ok and saved.value.json()["preferences"]["sttEngine"] == "local"

    # Voices: the default first, then exactly what the engine lists for the speaker's language.
    voice = page.get_by_label("Voice", exact=True)
    assert voice.evaluate("e => e.tagName") == "SELECT"
    token = page.evaluate("window.__lt.token")
    listed = page.request.get(f"{embedded.url}/api/tts/voices?engine=local&language=en",
                              headers={"Authorization": f"Bearer {token}"})
    assert listed.ok, listed.status
    voices = listed.json()["voices"]
    page.wait_for_function("n => document.querySelectorAll('#voice option').length === n",
                           arg=1 + len(voices))
    options = page.locator("#voice option").evaluate_all("os => os.map(o => [o.value, o.textContent])")
    assert options[0] == ["", "Default voice"]
    assert [v for v, _ in options[1:]] == [v["id"] for v in voices]
    assert voice.input_value() == ""


def test_the_owner_saves_a_glossary_and_another_guest_sees_it_arrive(
        embedded: Service, chromium: Any, people: list[Person]) -> None:
    ann = Person(chromium, embedded.url, "Ann", "en")
    people.append(ann)
    code = ann.create_room()
    bea = Person(chromium, embedded.url, "Bea", "es", f"/?room={code}")  # the invite link
    people.append(bea)
    bea.page.locator("#room").wait_for()
    ann.page.locator("#participants li", has_text="Bea").wait_for()
    ann.page.locator("#glossary-form").wait_for()  # the owner's editor
    bea.page.locator("#glossary").wait_for()  # loaded, before anything is saved
    assert bea.page.locator("#glossary-form").is_hidden()  # not the owner: no editor
    assert bea.page.locator("#glossary-terms li").count() == 0
    assert "premium speech recognition as key terms" in (bea.page.locator("#glossary").text_content() or "")
    bea.page.evaluate("""() => window.__lt.socket.on('glossary-updated',
        g => { window.__glossaryEvents = (window.__glossaryEvents || []).concat([g]); })""")

    ann.page.get_by_label("Terms, one per line").fill("LiveKit\n\n  Grok  \n")
    with ann.page.expect_response(lambda r: r.url.endswith("/glossary") and r.request.method == "PUT") as put:
        ann.page.get_by_role("button", name="Save glossary").click()
    assert put.value.request.post_data_json == {"terms": ["LiveKit", "Grok"]}
    assert put.value.ok and put.value.json()["terms"] == ["LiveKit", "Grok"], put.value.status

    bea.page.locator("#glossary-terms li", has_text="Grok").wait_for(timeout=10000)
    assert bea.page.locator("#glossary-terms li").all_inner_texts() == ["LiveKit", "Grok"]
    events = bea.page.evaluate("window.__glossaryEvents")
    assert events and events[-1]["terms"] == ["LiveKit", "Grok"], events  # pushed, not re-read
    assert ann.page.locator("#glossary-terms li").all_inner_texts() == ["LiveKit", "Grok"]
    assert ann.page.locator("#glossary-input").input_value() == "LiveKit\nGrok"
