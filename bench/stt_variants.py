"""Streaming vs whole-file accuracy under engine variants: one setting changed at a time, to find
where the local stream loses words against decoding each recording whole (issue 23, item 5).

Each variant builds its own `WhisperSTT` (sharing one loaded model) and streams each set as
`bench/stt.py` does, but as fast as the decodes go (`--pace`, default 1000 × real time: with one
stream the words do not depend on the pace; latency is not measured). Whole-file decodes are
cached in `--cache`. Variants are `name` or `name:key=value,...` (see VARIANTS); engine code is
never changed, a variant that needs a code change patches a copy here (`patch=...`).

    .venv/bin/python bench/stt_variants.py --sets asterisk-fr --variants base,preroll=480 \\
        [--asterisk-every 8] [--heldout-every 8] [--json out.json] [--clips]

Keep held-out sets (speech_corpus.HELDOUT_SETS) for the final check of a chosen change.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
if os.environ.get("BENCH_ENGINES_FROM"):  # a snapshot holding engines/ (e.g. `git archive HEAD engines`)
    import importlib.util  # the editable install's finder would win over sys.path: load it by hand
    _root = Path(os.environ["BENCH_ENGINES_FROM"]) / "engines"
    _spec = importlib.util.spec_from_file_location("engines", _root / "__init__.py",
                                                   submodule_search_locations=[str(_root)])
    assert _spec is not None and _spec.loader is not None
    sys.modules["engines"] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(sys.modules["engines"])

from bench import speech_corpus as corpus  # noqa: E402
from bench.stt import score_set, stream_set  # noqa: E402
from engines.providers.local.whisper import DEFAULT_SEGMENTS, WhisperSTT  # noqa: E402
from engines.stt.commit import SegmentRules  # noqa: E402
from engines.stt.vad import VadConfig  # noqa: E402


def build(spec: str, model: Any) -> WhisperSTT:
    """A WhisperSTT for a variant spec: "base", or comma-separated key=value settings:
    preroll=ms, min_silence=ms, max_silence=ms, start=thr, end=thr, min_speech=ms,
    min_window=s, window=fit|full, segments=0|1, clause_words=n, max_words=n, pause_s=s,
    interim=ms, beam=n, overlap=s, right_context=s (engines.stt.commit.SegmentRules)."""
    vad = VadConfig()
    seg: SegmentRules | None = DEFAULT_SEGMENTS
    kw: dict[str, Any] = {}
    for item in filter(None, spec.split(",")):
        if item == "base":
            continue
        key, _, value = item.partition("=")
        if key == "preroll":
            vad = replace(vad, pre_roll_ms=float(value))
        elif key == "min_silence":
            vad = replace(vad, min_silence_ms=float(value))
        elif key == "max_silence":
            vad = replace(vad, max_silence_ms=float(value))
        elif key == "start":
            vad = replace(vad, start_threshold=float(value))
        elif key == "end":
            vad = replace(vad, end_threshold=float(value))
        elif key == "min_speech":
            vad = replace(vad, min_speech_ms=float(value))
        elif key == "min_window":
            kw["min_window_s"] = float(value)
        elif key == "window":
            kw["window"] = value
        elif key == "segments":
            seg = None if value == "0" else DEFAULT_SEGMENTS
        elif key in ("clause_words", "max_words", "sentence_words"):
            seg = replace(seg or DEFAULT_SEGMENTS, **{key: int(value)})
        elif key == "pause_s":
            seg = replace(seg or DEFAULT_SEGMENTS, pause_s=float(value))
        elif key == "interim":
            kw["interim_interval_ms"] = float(value)
        elif key == "beam":
            kw["beam_size"] = int(value)
        elif key in ("overlap", "right_context"):
            seg = replace(seg or DEFAULT_SEGMENTS, **{f"{key}_s": float(value)})
        else:
            raise SystemExit(f"unknown variant setting {key!r}")
    stt = WhisperSTT("base", vad=vad, segments=seg, **kw)
    stt._model = model  # one model for every variant
    return stt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", default="asterisk-es,asterisk-fr,asterisk-it")
    ap.add_argument("--variants", default="base", help="';'-separated variant specs")
    ap.add_argument("--asterisk-every", type=int, default=8)
    ap.add_argument("--heldout-every", type=int)
    ap.add_argument("--pace", type=float, default=1000.0)
    ap.add_argument("--cache", default="/tmp/stt-whole-cache.json", help="whole-file decodes")
    ap.add_argument("--json", help="append the rows (with per-recording texts) to this JSON list")
    ap.add_argument("--clips", action="store_true", help="print recordings whose stream differs")
    args = ap.parse_args()

    cache_path = Path(args.cache)
    cache: dict[str, str] = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    ref_stt = WhisperSTT("base")
    ref_stt.start()
    rows: list[dict[str, Any]] = []
    print("engines from", Path(sys.modules["engines"].__file__ or "").parent, flush=True)
    sets = {name: corpus.load([name], asterisk_every=args.asterisk_every,
                              heldout_every=args.heldout_every) for name in args.sets.split(",")}
    for name, clips in sets.items():
        for c in clips:
            key = f"{c.set}/{c.name}"
            if key not in cache:
                cache[key] = ref_stt.transcribe_whole(c.pcm, c.language)
        cache_path.write_text(json.dumps(cache, ensure_ascii=False, indent=0))
    for spec in args.variants.split(";"):
        stt = build(spec, ref_stt._model)
        for name, clips in sets.items():
            whole = [cache[f"{c.set}/{c.name}"] for c in clips]
            t0 = time.perf_counter()
            finals, starts = stream_set(stt, clips, args.pace)
            row = score_set(name, clips, finals, whole, starts)
            row.pop("_lat")
            row["variant"] = spec
            row["run_s"] = round(time.perf_counter() - t0, 1)
            s = stt.status()
            row["loop_checks"], row["loops_collapsed"] = s["loop_checks"], s["loops_collapsed"]
            print(f"{spec:32s} {name:20s} wer {row.get('wer', '-'):>6}"
                  f" whole {row.get('whole_file_wer', '-'):>6}"
                  f" vs_whole {row.get('stream_vs_whole', '-'):>6} finals {row['finals']:3d}/"
                  f"{row['recordings']:3d} not1 {row['recordings_not_one_final']:3d} loops {row['loops']}"
                  f" checks {row['loop_checks']} ({row['run_s']} s)", flush=True)
            if args.clips:
                for r in row["_clips"]:
                    if r["vs_whole"][0] or len(r["stream"]) != 1:
                        print(f"    {r['name']}: edits {r.get('edits')} whole {r.get('whole_edits')}"
                              f" | REF {r['ref']!r}\n      WHOLE {r['whole']!r}"
                              f"\n      STREAM {r['stream']!r}")
            rows.append(row)
            if args.json:  # after every set: a long run can be read while it goes on
                path = Path(args.json)
                old = json.loads(path.read_text()) if path.exists() else []
                path.write_text(json.dumps(old + [row], ensure_ascii=False, indent=1))
        del stt


if __name__ == "__main__":
    main()
