"""e2e: translated speech in the media plane. The real agent (inside the service's speech process)
publishes one `tts-<lang>` track per language of the voice room and speaks each translation on it;
listeners made with the LiveKit Python SDK join listen-only, subscribe to their own language's
track and measure the sound that arrives."""
from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from core.speech import request_say
from tests.support import Peer, Service, room_with, when_quiet
from tests.support.livekit_client import LkParticipant, kill_agent_mid_utterance
from tests.support.processes import wait_until
from tests.support.speech import clips
from tests.support.utterances import as_sentences, each_part_once_in_order, wait_for_utterance

pytestmark = [pytest.mark.e2e, pytest.mark.speech, pytest.mark.livekit]

SILENCE = b"\0" * 32000  # one second


def _join(peer: Peer, lk_peers: list[LkParticipant], listen_only: bool) -> LkParticipant:
    assert peer.call("start-voice-session", {"listenOnly": listen_only})["ok"]
    ready = peer.wait_for("voice-session-ready")[-1]
    assert ready["listenOnly"] is listen_only
    p = LkParticipant(ready["liveKitUrl"], ready["liveKitToken"]).connect()
    lk_peers.append(p)
    return p


def _speech_on(svc: Service, *peers: Peer) -> None:
    for p in peers:
        r = requests.patch(svc.url + "/api/me", json={"ttsEnabled": True}, headers=p.headers(), timeout=10)
        assert r.status_code == 200


def _playing(lk: LkParticipant, language: str) -> list[dict[str, Any]]:
    return [body for _, topic, body in lk.packets
            if topic == "lt.tts" and isinstance(body, dict) and body.get("type") == "playing"
            and body.get("language") == language]


def _heard(lk: LkParticipant, track: str, line: dict[str, Any], at: float) -> float:
    """Milliseconds of sound received on `track` while `line` (a playing notice received at `at`)
    was on air."""
    window = (at - 200, at + line["durationMs"] + 1500)
    return sum(min(b, window[1]) - max(a, window[0]) for a, b in lk.sounds(track)
               if b > window[0] and a < window[1])


def _lines(lk: LkParticipant, language: str) -> list[tuple[float, dict[str, Any]]]:
    return [(at, body) for at, topic, body in lk.packets
            if topic == "lt.tts" and isinstance(body, dict) and body.get("type") == "playing"
            and body.get("language") == language]


def test_each_language_hears_every_translation_once_in_order_on_its_own_track(
        embedded: Service, peers: list[Peer], lk_peers: list[LkParticipant]) -> None:
    ann, bob, cat, dan, eve = room_with(embedded.url, peers, ("Ann", "en"), ("Bob", "es"), ("Cat", "fr"),
                                        ("Dan", "en"), ("Eve", "es"))
    _speech_on(embedded, ann, bob, cat, dan, eve)  # Eve stays out of the voice room
    mic = _join(ann, lk_peers, listen_only=False)
    mic.publish()
    mic.wait_for_agent()
    es = _join(bob, lk_peers, listen_only=True)
    fr = _join(cat, lk_peers, listen_only=True)
    same = _join(dan, lk_peers, listen_only=True)  # Ann's language: hears her microphone itself
    same.listen("tts-en")
    from livekit.rtc.participant import PublishTrackError
    with pytest.raises(PublishTrackError):  # a listen-only token cannot publish
        es.publish()
    es.listen("tts-es")
    fr.listen("tts-fr")
    mic.listen("tts-en")  # Ann's own language: nothing of hers may ever come back on it
    fr.listen("tts-es")  # asks for another language's track: the agent's permissions refuse it
    # (60 s: the agent grants each listener its language's track; slow on a busy machine)
    wait_until(lambda: "tts-es" in es.subscribed and "tts-fr" in fr.subscribed, 60, "subscriptions")

    data = clips()[:3]
    # Three sentences back to back, as a talkative speaker says them: both languages at once.
    mic.play(SILENCE + b"".join(pcm + SILENCE for pcm, _ in data) + SILENCE)
    for _, ref in data:
        wait_for_utterance(bob, ref, 0.3, timeout=60, consecutive=2)
    captions = when_quiet(lambda: bob.got("translated-message"), quiet_s=3.0)
    # Each sentence is an utterance of its own (or two in a row: see utterances.runs), perhaps in
    # segments; each segment is a line.
    utterances = sorted(each_part_once_in_order(captions).values(),
                        key=lambda parts: parts[0]["timings"]["speechEnd"])
    as_sentences(utterances, [ref for _, ref in data], 0.3)
    order = [m["utteranceId"] for parts in utterances for m in parts]
    for lk, lang in ((es, "es"), (fr, "fr")):
        wait_until(lambda lk=lk, lang=lang: len(_playing(lk, lang)) >= len(order), 60,
                   f"{len(order)} lines in {lang}")
    time.sleep(3)  # anything extra (a repeat, a line in the wrong language) would arrive by now

    for lk, lang in ((es, "es"), (fr, "fr")):
        lines = _lines(lk, lang)
        assert [b["utteranceId"] for _, b in lines] == order, (lang, lines)  # in order, each once
        for at, line in lines:
            assert line["durationMs"] > 500
            heard = _heard(lk, f"tts-{lang}", line, at)
            assert heard >= 0.4 * line["durationMs"], (lang, line, heard)
        sound = sum(b - a for a, b in lk.sounds(f"tts-{lang}"))
        assert sound <= sum(b["durationMs"] for _, b in lines) + 1500, "more sound than lines: a repeat"
    assert "tts-es" not in fr.subscribed and not fr.levels.get("tts-es")
    assert mic.sounds("tts-en") == [] and not _playing(mic, "en")
    assert same.sounds("tts-en") == [] and not _playing(same, "en") and not dan.got("tts-audio")
    # Listeners on a track get no second copy as a file; the speaker gets nothing of their own;
    # a listener outside the voice room still gets every line as a file.
    assert not bob.got("tts-audio") and not cat.got("tts-audio") and not ann.got("tts-audio")
    eve.wait_for("tts-audio", count=len(order), timeout=30)
    time.sleep(1)
    assert sorted(f["messageId"] for f in eve.got("tts-audio")) == sorted(f"{u}:es" for u in order)
    # The agent's tracks were never transcribed: the room heard Ann's three sentences only.
    assert sorted((f["utteranceKey"], f["part"]) for f in ann.got("recognized-speech")) == sorted(
        (m["utteranceKey"], m["part"]) for m in captions)
    assert {m["fromUserId"] for m in bob.got("translated-message")} == {ann.id}

    assert not any(p.identity == bob.id for p in mic.room.remote_participants.values()
                   if p.track_publications), "a listen-only participant published a track"

    # Typed, so nobody heard it: Dan (en) gets Ann's English as a file, not on tts-en, which
    # Ann shares; the same for Spanish she types (translated into English for Dan).
    since = time.time() * 1000
    ann.say("Good morning.", "en")
    ann.say("Buenos días.", "es")
    got = dan.wait_for("tts-audio", count=2, timeout=30)
    assert {g["language"] for g in got} == {"en"}
    time.sleep(2)
    assert mic.sounds("tts-en", since=since) == [] and same.sounds("tts-en", since=since) == []
    assert not _playing(mic, "en") and not _playing(same, "en")

    # The same line handed over again (a task redelivered after a worker crash) is not said twice.
    first = utterances[0][0]
    covered = request_say(str(embedded.env["VAR_DIR"]) + "/speech.sock", mic.name, first["utteranceId"],
                          "es", "en", ann.id, first["translatedText"], first["timings"]["speechEnd"],
                          [(bob.id, "", "local")])
    assert covered == [bob.id]
    time.sleep(3)
    assert [b["utteranceId"] for b in _playing(es, "es")].count(first["utteranceId"]) == 1


@pytest.mark.own_service
def test_tracks_come_back_after_the_agent_is_killed_mid_speech(
        embedded: Service, peers: list[Peer], lk_peers: list[LkParticipant]) -> None:
    ann, bob = room_with(embedded.url, peers, ("Ann", "en"), ("Bob", "es"))
    _speech_on(embedded, bob)
    mic = _join(ann, lk_peers, listen_only=False)
    mic.publish()
    first_agent = mic.wait_for_agent()
    es = _join(bob, lk_peers, listen_only=True)
    es.listen("tts-es")
    data = clips()
    mic.play(SILENCE + data[0][0] + SILENCE)
    first = wait_for_utterance(bob, data[0][1], 0.3, timeout=60)
    first = when_quiet(lambda: [m for m in bob.got("translated-message")
                                if m["utteranceKey"] == first[0]["utteranceKey"]], quiet_s=2.0)
    wait_until(lambda: {b["utteranceId"] for b in _playing(es, "es")} >= {m["utteranceId"] for m in first},
               60, "the first sentence's lines")
    old_sid = es.remote_tracks()["tts-es"].sid

    kill_agent_mid_utterance(embedded.procs[0].popen.pid, mic, data[1][0], first_agent)
    wait_until(lambda: "tts-es" in es.remote_tracks() and es.remote_tracks()["tts-es"].sid != old_sid,
               60, "a new tts-es track")
    es.listen("tts-es")
    wait_until(lambda: es.subscribed.count("tts-es") == 2, 20, "the new track subscribed")
    since = time.time() * 1000
    mic.play(SILENCE + data[2][0] + SILENCE)
    msg = bob.wait_for("translated-message", lambda m: m["timings"]["speechEnd"] > since, timeout=60)[0]
    wait_until(lambda: any(b["utteranceId"] == msg["utteranceId"] for b in _playing(es, "es")), 60,
               "the later line on the new track")
    at, line = next((a, b) for a, b in _lines(es, "es") if b["utteranceId"] == msg["utteranceId"])
    time.sleep(max(0.0, at + line["durationMs"] + 1500 - time.time() * 1000) / 1000)  # until played
    assert _heard(es, "tts-es", line, at) >= 0.4 * line["durationMs"]


def test_a_long_reading_is_captioned_and_spoken_in_segments_before_the_speaker_stops(
        embedded: Service, peers: list[Peer], lk_peers: list[LkParticipant]) -> None:
    """Sentences read into a LiveKit microphone with only a breath between them (one long
    utterance): the listener reads at least three translated captions and hears its language's
    track before the speaker's last word; the captions are one utterance's parts, in order, once."""
    from bench import speech_corpus as corpus
    from tests.support.livekit_client import speech_end
    from tests.support.processes import when_quiet
    ann, bob = room_with(embedded.url, peers, ("Ann", "en"), ("Bob", "es"))
    _speech_on(embedded, bob)
    mic = _join(ann, lk_peers, listen_only=False)
    mic.publish()
    mic.wait_for_agent()
    es = _join(bob, lk_peers, listen_only=True)
    es.listen("tts-es")
    wait_until(lambda: "tts-es" in es.subscribed, 60, "subscription")
    pcm, _ = corpus.continuous(corpus.load(["librivox"]))
    last_word = speech_end(pcm)
    marks = mic.play(SILENCE + pcm + SILENCE, marks={len(SILENCE) + last_word: 0.0})
    spoken_until = marks[len(SILENCE) + last_word]
    captions = when_quiet(lambda: bob.got("translated-message"), quiet_s=3.0)
    before = [t for e, _, t in bob.events if e == "translated-message" and t < spoken_until]
    assert len(before) >= 3, f"{len(before)} captions before the last word"
    parts = sorted((m["utteranceKey"], m["part"]) for m in captions)
    assert len(set(parts)) == len(parts) and len({k for k, _ in parts}) == 1
    assert [p for _, p in parts] == list(range(len(parts)))
    assert [a for a, _ in es.sounds("tts-es") if a < spoken_until], \
        "no translated speech on tts-es before the speaker's last word"
