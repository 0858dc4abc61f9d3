"""unit: a language's lineup of translated lines (order, no repeats, the lag policy), the speed-up
itself (sox `tempo` on real synthesized speech: shorter, same pitch), and the agent's check of
what the workers hand it. The tracks themselves are tested end to end in
tests/livekit/test_voice_tracks_e2e.py and tests/browser/."""
from __future__ import annotations

import math

import numpy as np
import pytest

from agent.room_voices import SayRequest
from agent.voice_out import RATE, LagPolicy, Line, Lineup, tempo, trim

pytestmark = pytest.mark.unit


def _line(key: str, at: float, seconds: float = 2.0) -> Line:
    return Line(key, "x", at, pcm=np.zeros(int(seconds * RATE), dtype=np.int16))


def test_lines_play_in_the_order_they_were_said_and_each_once() -> None:
    lineup = Lineup()
    assert lineup.add(_line("b", 2000))
    assert lineup.add(_line("c", 3000))
    assert lineup.add(_line("a", 1000))  # its translation came last; it was said first
    assert not lineup.add(_line("b", 2000))  # handed over again: refused
    got = []
    while (line := lineup.take(now=0)[0]) is not None:
        got.append(line.key)
    assert got == ["a", "b", "c"]
    assert not lineup.add(_line("a", 1000))  # played already: still refused


def test_the_speed_grows_with_the_backlog_up_to_the_bound() -> None:
    policy = LagPolicy(speedup_s=3, skip_s=10, max_speed=1.4)
    assert policy.speed(0) == policy.speed(3) == 1.0
    assert policy.speed(6.5) == pytest.approx(1.2)
    assert policy.speed(10) == policy.speed(60) == pytest.approx(1.4)


def test_past_the_bound_the_oldest_waiting_lines_are_skipped_never_the_newest() -> None:
    lineup = Lineup(LagPolicy(speedup_s=3, skip_s=10))
    for i in range(8):  # 8 lines of 2 s: about 17 s of backlog
        lineup.add(_line(f"u{i}", 1000 + i))
    line, dropped = lineup.take(now=0)
    assert [d.key for d in dropped] == ["u0", "u1", "u2", "u3"]  # until 10 s or less waits
    assert line is not None and line.key == "u4" and lineup.backlog_s(now=0) <= 10
    assert lineup.skipped == 4 and all(d.skipped for d in dropped)
    one = Lineup(LagPolicy(skip_s=1))
    one.add(_line("long", 1, seconds=30))  # one long line alone is never skipped
    assert one.take(now=0)[0] is not None


def test_the_backlog_counts_the_line_playing_and_estimates_lines_not_yet_synthesized() -> None:
    lineup = Lineup()
    lineup.playing_until = 100.0
    lineup.add(Line("t", "a" * 100, 1))  # no audio yet: estimated from its text
    assert lineup.backlog_s(now=99.0) == pytest.approx(1.0 + 100 * 0.065 + 0.15)


def test_speeding_up_shortens_real_speech_and_keeps_its_pitch(tmp_path: object) -> None:
    import subprocess

    wav = subprocess.run(["espeak-ng", "-v", "en", "--stdout", "Translated speech that plays faster."],
                         capture_output=True, check=True).stdout
    from agent.voice_out import to_pcm
    pcm = to_pcm(wav)
    fast = tempo(pcm, 1.4)
    assert len(fast) == pytest.approx(len(pcm) / 1.4, rel=0.05)

    def pitch(x: np.ndarray) -> float:  # the strongest frequency of the voiced part
        spectrum = np.abs(np.fft.rfft(x.astype(np.float64)))
        freqs = np.fft.rfftfreq(len(x), 1 / RATE)
        band = (freqs > 60) & (freqs < 400)
        return float(freqs[band][np.argmax(spectrum[band])])

    assert pitch(fast) == pytest.approx(pitch(pcm), rel=0.1)
    assert tempo(pcm, 1.0) is pcm


GOOD = {"room": "r1", "utterance": "u1", "language": "es", "source": "en", "speaker": "s",
        "text": "Hola.", "at": 1.0e12, "listeners": [["b", "", "local"]]}


@pytest.mark.parametrize(("change", "why"), [
    ({"language": "xx"}, "unknown language"),
    ({"text": "   "}, "nothing to say"),
    ({"text": "a" * 5001}, "too long"),
    ({"at": math.nan}, "not a time"),
    ({"at": "soon"}, "not a number"),
    ({"listeners": [["b", "", "local", "extra"]]}, "wrong shape"),
    ({"listeners": [["b", 3, "local"]]}, "wrong type"),
    ({"listeners": [["b", "", "local"]] * 1001}, "too many"),
    ({"room": None}, "no room"),
])
def test_what_the_workers_hand_the_agent_is_checked(change: dict[str, object], why: str) -> None:
    assert SayRequest.parse(GOOD).listeners == (("b", "", "local"),)
    with pytest.raises(ValueError):
        SayRequest.parse({**GOOD, **change})


def test_silence_around_synthesized_speech_is_trimmed_to_a_margin() -> None:
    speech = (np.sin(np.arange(RATE) / 10) * 5000).astype(np.int16)  # one second of sound
    quiet = np.zeros(RATE // 2, dtype=np.int16)
    out = trim(np.concatenate([quiet, speech, quiet]))
    assert len(out) == pytest.approx(RATE + RATE * 0.12, abs=RATE * 0.01)  # 20 ms before, 100 after
    assert np.abs(out[:RATE // 50]).max() <= 200 and np.abs(out[RATE // 50 + 10:RATE // 50 + 100]).max() > 200
    assert len(trim(quiet)) == 0
