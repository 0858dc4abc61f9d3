"""unit: the fan-out plan and run (workers.plan, workers.fanout) and translated interims
(workers.interim) over a real SQLite database, with a scripted translator and a recording
emitter: who gets what, once, with context only from what they heard."""
from __future__ import annotations

import pytest

from core import membership
from core.db import session_scope
from core.models import Delivery, Participant, Translation, User, Utterance, now_ms
from core.naming import own_room, user_room
from core.runtime import Runtime
from engines.errors import EngineConnectionError, UnsupportedLanguageError
from engines.translation.base import Context
from engines.translation.base import Translation as Translated
from tests.unit.conftest import Recorder, Scripted, add_room, add_user, add_utterance
from workers.fanout import RetryableFanoutError, SpeechJob, fan_out
from workers.interim import translate_interim
from workers.plan import plan

pytestmark = pytest.mark.unit


def _room(url: str) -> tuple[str, str, dict[str, str]]:
    """An English speaker and five listeners: en, es ×2 (one with speech on), fr, es via 'premium'."""
    speaker = add_user(url, "Ann", "en")
    people = {
        "en": add_user(url, "Bob", "en", tts_enabled=True),
        "es1": add_user(url, "Carla", "es"),
        "es2": add_user(url, "Dani", "es", tts_enabled=True, voice="es-v", tts_engine="local"),
        "fr": add_user(url, "Eve", "fr"),
        "es-premium": add_user(url, "Flo", "es", translation_engine="premium"),
    }
    return speaker, add_room(url, speaker, *people.values()), people


def test_the_plan_groups_listeners_by_language_and_engine_same_language_first(rt: Runtime) -> None:
    url = rt.settings.database_url
    speaker, room, people = _room(url)
    uid = add_utterance(url, speaker, "Hello", "en", room)
    with session_scope(url) as s:
        p = plan(s, uid)
    assert p is not None
    groups = [(j.target, j.engine, sorted(j.users), j.kind) for j in p.jobs]
    assert groups[0] == ("en", "", [people["en"]], "room")  # no engine for the source language
    assert sorted(groups[1:]) == sorted([
        ("es", "local", sorted([people["es1"], people["es2"]]), "room"),
        ("fr", "local", [people["fr"]], "room"),
        ("es", "premium", [people["es-premium"]], "room")])
    assert speaker not in {u for j in p.jobs for u in j.users}
    assert p.speech == {people["en"]: ("", "local"), people["es2"]: ("es-v", "local")}


def test_the_plan_leaves_out_whoever_already_has_their_message_and_knows_solo(rt: Runtime) -> None:
    url = rt.settings.database_url
    speaker, room, people = _room(url)
    uid = add_utterance(url, speaker, "Hello", "en", room)
    with session_scope(url) as s:
        s.add(Delivery(utterance_id=uid, user_id=people["fr"], kind="room"))
    with session_scope(url) as s:
        p = plan(s, uid)
        assert p is not None and "fr" not in {j.target for j in p.jobs}
        assert plan(s, "no-such-utterance") is None
    solo = add_utterance(url, speaker, "Hi", "en", solo_target="de")
    with session_scope(url) as s:
        p = plan(s, solo)
    assert p is not None and [(j.target, j.users, j.kind) for j in p.jobs] == [("de", [speaker], "solo")]


def test_one_translation_per_group_one_message_per_listener_and_none_twice(rt: Runtime,
                                                                          local: Scripted) -> None:
    url = rt.settings.database_url
    speaker, room, people = _room(url)
    rt.registry = type(rt.registry)({"local": lambda: local, "premium": lambda: Scripted("premium")},
                                    default="local")
    uid = add_utterance(url, speaker, "Hello", "en", room)
    handed: list[SpeechJob] = []
    out = fan_out(rt, uid, enqueued_at=None, on_speech=handed.append)
    assert out.sent == 5 and handed == out.speech
    assert sorted(c[2] for c in local.calls) == ["es", "fr"]  # es once for two listeners
    emitter = rt.emitter
    assert isinstance(emitter, Recorder)
    msgs = {to: d for d, to in emitter.events("translated-message")}
    assert set(msgs) == {user_room(room, u) for u in people.values()}
    assert msgs[user_room(room, people["en"])]["translatedText"] == "Hello"
    assert msgs[user_room(room, people["es1"])]["translatedText"] == "es:Hello"
    assert msgs[user_room(room, people["es1"])]["id"] == f"{uid}:es"
    # Speech is returned, not enqueued: one job per language with listeners who turned it on.
    assert sorted((j.target, j.listeners) for j in out.speech) == [
        ("en", [(people["en"], "", "local")]), ("es", [(people["es2"], "es-v", "local")])]
    with session_scope(url) as s:
        assert s.query(Delivery).filter_by(utterance_id=uid).count() == 5
        assert s.query(Translation).filter_by(utterance_id=uid).count() == 3
    # Run again (a task redelivered after a crash): nobody gets a second message.
    again = fan_out(rt, uid, enqueued_at=None)
    assert again.sent == 0 and len(emitter.events("translated-message")) == 5


def test_a_retryable_failure_asks_for_a_retry_unless_final_then_tells_everyone(rt: Runtime,
                                                                                local: Scripted) -> None:
    url = rt.settings.database_url
    speaker = add_user(url, "Ann", "en")
    same = add_user(url, "Bob", "en", tts_enabled=True)
    fr = add_user(url, "Eve", "fr")
    room = add_room(url, speaker, same, fr)
    local.fail = lambda n: EngineConnectionError("down", engine="local")
    uid = add_utterance(url, speaker, "Hello", "en", room)
    handed: list[SpeechJob] = []
    with pytest.raises(RetryableFanoutError):
        fan_out(rt, uid, None, final_attempt=False, on_speech=handed.append)
    assert _finished_at(url, uid) is None  # a group waits for its retry: not finished
    # The same-language listener was served, and their speech was handed on before the retry.
    assert [j.listeners for j in handed] == [[(same, "", "local")]]
    emitter = rt.emitter
    assert isinstance(emitter, Recorder)
    assert [to for _, to in emitter.events("translated-message")] == [user_room(room, same)]
    out = fan_out(rt, uid, None, final_attempt=True)
    assert out.sent == 0
    failed = emitter.events("translation-failed")
    assert [(d["targetLang"], to) for d, to in failed] == [("fr", user_room(room, fr))]
    assert emitter.events("speech-error")[0][1] == user_room(room, speaker)
    with session_scope(url) as s:
        assert s.get(Delivery, (uid, fr)).kind == "failed"  # type: ignore[union-attr]
    assert _finished_at(url, uid) is not None  # everyone served or told: nothing to resume


def _finished_at(url: str, utterance_id: str) -> float | None:
    with session_scope(url) as s:
        u = s.get(Utterance, utterance_id)
        assert u is not None
        return u.fanned_out_at


def test_a_solo_utterance_goes_to_the_speaker_alone(rt: Runtime, local: Scripted) -> None:
    url = rt.settings.database_url
    speaker = add_user(url, "Ann", "en")
    uid = add_utterance(url, speaker, "Hello", "en", solo_target="es")
    out = fan_out(rt, uid, None)
    emitter = rt.emitter
    assert isinstance(emitter, Recorder)
    assert out.sent == 1 and out.speech == []
    [(msg, to)] = emitter.events("solo-translated")
    assert to == own_room(speaker) and msg["translatedText"] == "es:Hello"
    local.fail = lambda n: UnsupportedLanguageError("no route", engine="local")
    other = add_utterance(url, speaker, "Bye", "en", solo_target="fr")
    assert fan_out(rt, other, None, final_attempt=False).sent == 0  # not retryable: told at once
    assert [to for _, to in emitter.events("translation-failed")] == [own_room(speaker)]


class Remembering(Scripted):
    """Scripted, keeping the context each translation was given."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.contexts: list[tuple[str, ...]] = []

    def translate(self, text: str, source: str, target: str,
                  context: Context | None = None) -> Translated:
        self.contexts.append((context or Context()).previous)
        return super().translate(text, source, target, context)


def _joins(url: str, room: str, user: str, at: float) -> None:
    with session_scope(url) as s:
        user_row = s.get(User, user)
        assert user_row is not None
        s.add(Participant(room_id=room, user_id=user, language=user_row.language, joined_at=at))
        membership.open_stretch(s, room, user, at)


def _said(url: str, speaker: str, room: str, text: str, at: float, key: str | None = None,
          part: int = 0) -> str:
    with session_scope(url) as s:
        u = Utterance(speaker_id=speaker, room_id=room, text=text, source_lang="en",
                      received_at=at, utterance_key=key, part=part)
        s.add(u)
        s.flush()
        return u.id


def _previous(url: str, uid: str) -> tuple[str, ...]:
    with session_scope(url) as s:
        p = plan(s, uid)
    assert p is not None
    return tuple(p.utterance["previous"])


def test_context_holds_only_what_every_listener_heard(rt: Runtime) -> None:
    url = rt.settings.database_url
    t = now_ms() - 60_000
    ann, bea, carl = add_user(url, "Ann", "en"), add_user(url, "Bea", "es"), add_user(url, "Carl", "fr")
    room = add_room(url, ann)
    _joins(url, room, bea, t)
    _said(url, ann, room, "Before Carl came.", t + 1000)
    _joins(url, room, carl, t + 2000)
    after = _said(url, ann, room, "After Carl came.", t + 3000)
    now = _said(url, ann, room, "Now.", t + 4000)
    # One context for everyone translated for (one request may serve them all): Carl heard only
    # what was said since he joined.
    assert _previous(url, after) == ()
    assert _previous(url, now) == ("After Carl came.",)
    with session_scope(url) as s:
        membership.close_stretch(s, room, carl, t + 5000)
    later = _said(url, ann, room, "Carl has gone.", t + 6000)
    assert _previous(url, later) == ("Before Carl came.", "After Carl came.", "Now.")  # Bea heard all


def test_interim_context_leaves_out_segments_said_before_a_listener_joined(rt: Runtime) -> None:
    url = rt.settings.database_url
    remembering = Remembering("local")
    rt.registry = type(rt.registry)({"local": lambda: remembering}, default="local")
    t = now_ms() - 60_000
    ann, bea, carl = add_user(url, "Ann", "en"), add_user(url, "Bea", "es"), add_user(url, "Carl", "fr")
    room = add_room(url, ann)
    _joins(url, room, bea, t)
    _said(url, ann, room, "Good morning everyone,", t + 1000, key="utt-1", part=0)
    assert translate_interim(rt, room, ann, "utt-1", 1, "the meeting", "en") == 1
    assert remembering.contexts == [("Good morning everyone,",)]
    _joins(url, room, carl, t + 2000)
    assert translate_interim(rt, room, ann, "utt-1", 1, "the meeting starts", "en") == 2
    assert remembering.contexts[1:] == [(), ()]  # Carl missed part 0: nobody gets it as context
