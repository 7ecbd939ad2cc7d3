"""Alignment accuracy on three sets with exact ground truth, chromatool beside the Sync Toolbox.

- **smooth**: music21-corpus pieces (no reserved composer) played with a smooth random tempo
  curve, a random GM ensemble, TimGM6mb, reverb and noise.
- **expressive**: the same kind of pieces played the way performers play
  (:func:`chromatool.expressive.expressive_timing`: global tempo 0.6–1.5x, rubato within the
  bar, ritardandi into phrase ends, fermatas 1.5–4x, pauses of 0.5–3 s; chords spread by
  ±30 ms between parts), tuned off A440 by up to ±40 cents, with up to 10 s of silence or
  applause before and after, rooms of 0.3–2.5 s, noise, one of three soundfonts that the
  aligner does not use for its own score render (TimGM6mb, the csound GM bank, an OPL3 FM
  bank) and ensembles that include slow-attack strings and choir voices. Every third item is
  **cross-version**: the "score" is itself a performance (another expressive timing, another
  ensemble) given as a note list, as when one recording's annotations are carried to another.
- **asap**: real pianists' performances from ../shared/data/asap (performance MIDI with its
  sustain pedal, rendered), their first ``--asap-seconds`` cut at a beat; the score
  (``midi_score.mid``) is aligned to the render and its beats carried through the alignment
  (``Alignment.beat_times``: a beat on a note onset through the time map, a beat off every
  onset at a steady tempo between its neighbours that have one, as ASAP's annotations place
  them; the Sync Toolbox's beats by the same rule) are compared with the performance's
  annotated beats.

Errors are onset errors (smooth, expressive) or beat errors (asap) in ms. The Sync Toolbox's
MrMsDTW runs on the same pairs (score rendered by chromatool's own FluidSynth render) when
``--sync-python`` names a Python with synctoolbox installed (see synctoolbox_align.py).

    python benchmarks/align_eval.py [--sets smooth expressive asap] [--pieces 12]
        [--asap 22] [--sync-python .venv-sync/bin/python] [--plot expressive.png]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from retrieval_set import ENSEMBLES, corpus_pieces  # noqa: E402

HERE = Path(__file__).resolve().parent
ASAP = HERE.parent.parent / "shared" / "data" / "asap"
#: Ensembles of the expressive set: the retrieval set's plus slow-attack strings and voices.
SLOW_ENSEMBLES = ((48, 48, 49, 49), (52, 52, 53, 53), (40, 41, 42, 43), (89, 89, 48, 48))
#: Soundfonts the recordings are played with (never the aligner's own, FluidR3).
RECORDING_FONTS = ("/usr/share/sounds/sf2/TimGM6mb.sf2", "/usr/share/samples/sf_GMbank.sf2",
                   "/usr/share/sounds/sf2/OPL-3_FM_128M.sf2")
SYNC_SCRIPT = HERE / "synctoolbox_align.py"


def _own_font() -> Path:
    """The soundfont the aligner renders its scores with (never a recording's)."""
    from chromatool.render import find_soundfonts

    return find_soundfonts()[0]


def _recording_font(rng) -> Path:
    own = _own_font().resolve()
    rec = [Path(f) for f in RECORDING_FONTS if Path(f).is_file() and Path(f).resolve() != own]
    return rec[int(rng.integers(len(rec)))]


def _sync_path(sync_python: str | None, score_y: np.ndarray, y: np.ndarray) -> np.ndarray | None:
    """The Sync Toolbox's warping path (2, L) in seconds, or None without it."""
    if not sync_python:
        return None
    import soundfile as sf

    from chromatool import defaults as D

    with tempfile.TemporaryDirectory() as tmp:
        a, b, out = Path(tmp) / "a.wav", Path(tmp) / "b.wav", Path(tmp) / "wp.npy"
        sf.write(a, score_y, D.SAMPLE_RATE)
        sf.write(b, y, D.SAMPLE_RATE)
        p = subprocess.run([sync_python, str(SYNC_SCRIPT), str(a), str(b), str(out)],
                           capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError(p.stderr.strip().splitlines()[-1])
        return np.load(out)


def _map(wp: np.ndarray, t: np.ndarray) -> np.ndarray:
    from chromatool.alignment import path_time_map

    return np.interp(t, *path_time_map(wp))


def _run_aligners(score_notes, y, times, sync_python):
    """Recording times of score ``times`` (None: of the score's notes, as the label file has
    them) by chromatool and (optionally) the Sync Toolbox."""
    from chromatool.alignment import align_notes, carry_beats
    from chromatool.render import render

    own_font = _own_font()
    a = align_notes(score_notes, y, soundfont=str(own_font))
    out = {"chromatool": a.notes.onset if times is None else a.beat_times(times)}
    if sync_python:
        wp = _sync_path(sync_python, render(score_notes, soundfont=own_font), y)
        out["synctoolbox"] = (_map(wp, score_notes.onset) if times is None else  # beats: the same rule
                              carry_beats(times, score_notes.onset, lambda t: _map(wp, t)))
    return out, a


def smooth_case(path, seed):
    """(score notes, recording, None, true onsets) of one smooth-set item, or a reason to skip it."""
    import music21

    from chromatool.render import TempoCurve, add_noise, add_reverb, render
    from chromatool.score import notelist_from_music21

    rng = np.random.default_rng(seed)
    notes = notelist_from_music21(music21.converter.parse(path), source=str(path))
    if len(notes) < 30 or notes.duration > 600:
        return "too short or too long"
    ens = ENSEMBLES[int(rng.integers(len(ENSEMBLES)))]
    perf = replace(notes, program=np.array([ens[p % len(ens)] for p in notes.part]))
    curve = TempoCurve(notes.duration, rng=rng, scale=float(rng.uniform(0.8, 1.25)), max_ratio=1.3)
    _recording_font(rng)  # drawn though unused, so the set's later draws stay the same
    y = render(curve.apply(perf), soundfont="/usr/share/sounds/sf2/TimGM6mb.sf2")
    y = add_noise(add_reverb(y, rng=rng, rt60=1.0, wet=0.25), snr_db=30, rng=rng)
    return notes, y, None, curve(notes.onset)


def smooth_item(args):
    path, seed, sync_python = args
    case = smooth_case(path, seed)
    if isinstance(case, str):
        return case
    score, y, times, truth = case
    pred, _ = _run_aligners(score, y, times, sync_python)
    return {k: np.abs(v - truth) for k, v in pred.items()}


def expressive_case(path, seed, cross):
    """(score notes, recording, None, true onsets) of one expressive-set item, or a reason."""
    import music21

    from chromatool.expressive import expressive_timing, spread_chords
    from chromatool.render import add_noise, add_reverb, detune, pad, render
    from chromatool.score import notelist_from_music21

    rng = np.random.default_rng(seed)
    notes = notelist_from_music21(music21.converter.parse(path), source=str(path))
    if len(notes) < 30 or notes.duration > 300:
        return "too short or too long"
    pool = ENSEMBLES + SLOW_ENSEMBLES
    ens = pool[int(rng.integers(len(pool)))]
    perf = replace(notes, program=np.array([ens[p % len(ens)] for p in notes.part]))
    perf = spread_chords(expressive_timing(perf, rng=rng).apply(perf), rng=rng)
    font = _recording_font(rng)
    y = render(perf, soundfont=font)
    y = add_noise(add_reverb(y, rng=rng, rt60=float(rng.uniform(0.3, 2.5)), wet=float(rng.uniform(0.1, 0.4))),
                  snr_db=float(rng.uniform(20, 40)), rng=rng)
    cents = float(rng.uniform(-40, 40))
    y = detune(y, cents)
    lead, trail = rng.uniform(0, 10, 2)
    y = pad(y, lead=float(lead), trail=float(trail), rng=rng,
            kind="applause" if rng.random() < 0.5 else "silence", level_db=float(rng.uniform(-30, -12)))
    truth = perf.onset / 2 ** (cents / 1200) + lead
    score = notes
    if cross:  # the "score" is another performance, another ensemble
        ens2 = pool[int(rng.integers(len(pool)))]
        other = replace(notes, program=np.array([ens2[p % len(ens2)] for p in notes.part]))
        score = spread_chords(expressive_timing(other, rng=rng).apply(other), rng=rng)
    return score, y, None, truth


def expressive_item(args):
    path, seed, sync_python, cross, want_plot = args
    case = expressive_case(path, seed, cross)
    if isinstance(case, str):
        return case
    score, y, times, truth = case
    pred, a = _run_aligners(score, y, times, sync_python)
    out = {k: np.abs(v - truth) for k, v in pred.items()}
    if want_plot:
        out["_plot"] = (a, truth, score.onset)
    return out


def asap_performances(n: int, rng: np.random.Generator) -> list[dict]:
    import csv

    with open(ASAP / "metadata.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    by_comp: dict[str, list[dict]] = {}
    for r in rows:
        by_comp.setdefault(r["composer"], []).append(r)
    pools = {c: list(rng.permutation(len(v))) for c, v in sorted(by_comp.items())}
    out: list[dict] = []
    while len(out) < n and any(pools.values()):
        for c in sorted(pools):
            if pools[c] and len(out) < n:
                out.append(by_comp[c][pools[c].pop()])
    return out


def asap_case(row, seed, seconds):
    """(score notes, recording, score beats, performance beats) of one ASAP performance."""
    import pretty_midi

    from chromatool.performances import read_beats
    from chromatool.render import add_noise, add_reverb, render_midi_file
    from chromatool.score import read_score

    rng = np.random.default_rng(seed)
    sb, pb = read_beats(ASAP / row["midi_score_annotations"]), read_beats(ASAP / row["performance_annotations"])
    n = min(sb.size, pb.size)
    sb, pb = sb[:n], pb[:n]
    k = int(np.searchsorted(pb, seconds))  # cut both sides at the k-th beat
    k = max(2, min(k, n - 1))
    cut_s, cut_p = sb[k], pb[k]
    score = read_score(ASAP / row["midi_score"])
    score = score.select(score.onset < cut_s - 1e-3)
    score = replace(score, offset=np.minimum(score.offset, cut_s))
    pm = pretty_midi.PrettyMIDI(str(ASAP / row["midi_performance"]))
    for inst in pm.instruments:
        inst.notes = [nt for nt in inst.notes if nt.start < cut_p - 1e-3]
        for nt in inst.notes:
            nt.end = min(nt.end, cut_p + 0.5)
        inst.control_changes = [c for c in inst.control_changes if c.time < cut_p]
        inst.pitch_bends = []
    font = _recording_font(rng)
    with tempfile.TemporaryDirectory() as tmp:
        mid = Path(tmp) / "perf.mid"
        pm.write(str(mid))
        y = render_midi_file(mid, soundfont=font)
    y = add_noise(add_reverb(y, rng=rng, rt60=float(rng.uniform(0.5, 2.0)), wet=0.2),
                  snr_db=float(rng.uniform(25, 40)), rng=rng)
    sel = sb[:k] >= score.onset.min() - 1e-3
    return score, y, sb[:k][sel], pb[:k][sel]


def asap_item(args):
    row, seed, sync_python, seconds, *want_plot = args
    score, y, times, truth = asap_case(row, seed, seconds)
    pred, a = _run_aligners(score, y, times, sync_python)
    out = {key: np.abs(v - truth) for key, v in pred.items()}
    out["_squeezed"] = squeezed_beats(times, truth)
    out["_on_notes"] = on_played_notes(row, score, times, truth)
    if want_plot and want_plot[0]:
        out["_plot"] = (a, truth, times)
    return out


def on_played_notes(row, score, score_beats: np.ndarray, perf_beats: np.ndarray, *, tol: float = 0.05) -> np.ndarray:
    """Which annotated beats lie within ``tol`` seconds of a note the pianist played (the
    performance MIDI) of a pitch the score starts on that beat. Beats off every such note are
    where the annotation itself was interpolated (a trill, an ornament played its own way) or
    that fall inside held notes: diagnostic only, every beat counts in the main figures."""
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(str(ASAP / row["midi_performance"]))
    played = [(n.start, n.pitch) for ins in pm.instruments for n in ins.notes]
    start, pitch = (np.array(v) for v in zip(*played)) if played else (np.zeros(0), np.zeros(0))
    ok = np.zeros(score_beats.size, bool)
    for k, (t, tr) in enumerate(zip(score_beats, perf_beats)):
        here = set(score.pitch[np.abs(score.onset - t) < 1e-3].tolist())
        ok[k] = bool(here) and any(int(p) in here for p in pitch[np.abs(start - tr) < tol])
    return ok


def squeezed_beats(score_beats: np.ndarray, perf_beats: np.ndarray, *, beats: int = 16,
                   ratio: float = 0.3) -> np.ndarray:
    """Which annotated beats lie inside a run of at least ``beats`` beat intervals each played in
    under ``ratio`` times the performance's median seconds per score second: a passage of the
    score the pianist skipped (a repeat played once) whose beats the annotation squeezes between
    its neighbours. Those beats are not played; no alignment can be right on them."""
    mask = np.zeros(score_beats.size, bool)
    if score_beats.size < 2:
        return mask
    r = np.diff(perf_beats) / np.maximum(np.diff(score_beats), 1e-6)
    fast = np.r_[False, r < ratio * np.median(r), False].astype(int)
    starts, ends = np.flatnonzero(np.diff(fast) == 1), np.flatnonzero(np.diff(fast) == -1)
    for a, b in zip(starts, ends):  # intervals a .. b-1 are fast: beats a+1 .. b-1 lie inside
        if b - a >= beats:
            mask[a + 1:b] = True
    return mask


def summary(errs: np.ndarray) -> str:
    return (f"{errs.size:>6} {np.median(errs) * 1000:>8.1f} {np.mean(errs) * 1000:>8.1f} "
            f"{np.mean(errs < 0.05) * 100:>7.1f} {np.mean(errs < 0.1) * 100:>7.1f} "
            f"{np.quantile(errs, 0.99) * 1000:>9.0f}")


HEADER = f"{'set':<11}{'method':<13}{'n':>6} {'median':>8} {'mean':>8} {'<50ms%':>7} {'<100ms%':>7} {'worst1%':>9}"


def report(name: str, results: list[tuple[str, dict]], per_group: bool = False) -> None:
    methods = sorted({m for _, r in results for m in r if not m.startswith("_")})
    for m in methods:
        e = np.concatenate([r[m] for _, r in results if m in r])
        print(f"{name:<11}{m:<13}{summary(e)}")
    if per_group:
        groups = sorted({g for g, _ in results})
        for g in groups:
            for m in methods:
                e = np.concatenate([r[m] for gg, r in results if gg == g and m in r])
                print(f"  {g:<22}{m:<13}{summary(e)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", nargs="+", default=["smooth", "expressive", "asap"])
    ap.add_argument("--pieces", type=int, default=12, help="pieces per synthetic set")
    ap.add_argument("--asap", type=int, default=22, help="ASAP performances (round-robin over composers)")
    ap.add_argument("--asap-seconds", type=float, default=150.0, help="length of each ASAP excerpt")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--sync-python", help="a Python with synctoolbox installed (reference aligner)")
    ap.add_argument("--plot", help="draw the first expressive alignment into this PNG")
    ap.add_argument("--jobs", type=int, default=os.cpu_count())
    args = ap.parse_args()
    from concurrent.futures import ProcessPoolExecutor

    pool = ProcessPoolExecutor(args.jobs)
    print(HEADER)
    if "smooth" in args.sets:
        pieces = corpus_pieces(np.random.default_rng(args.seed), args.pieces)
        res = [(p.parent.name, r) for p, r in zip(pieces, pool.map(
            smooth_item, [(p, args.seed * 100 + i, args.sync_python) for i, p in enumerate(pieces)]))
            if not isinstance(r, str)]
        report("smooth", res)
    if "expressive" in args.sets:
        pieces = corpus_pieces(np.random.default_rng(args.seed + 1000), args.pieces)
        jobs = [(p, args.seed * 200 + i, args.sync_python, i % 3 == 2, i == 0 and bool(args.plot))
                for i, p in enumerate(pieces)]
        res = [("cross-version" if j[3] else "score", r) for j, r in zip(jobs, pool.map(expressive_item, jobs))
               if not isinstance(r, str)]
        report("expressive", res, per_group=True)
        if args.plot and res and "_plot" in res[0][1]:
            from chromatool.plotting import plot_alignment

            a, truth, score_onset = res[0][1]["_plot"]
            plot_alignment(a, Path(args.plot), overwrite=True, truth=(score_onset, truth))
            print(f"plot: {args.plot}")
    if "asap" in args.sets and (ASAP / "metadata.csv").is_file():
        rows = asap_performances(args.asap, np.random.default_rng(args.seed))
        res = [(r["composer"], e) for r, e in zip(rows, pool.map(
            asap_item, [(r, args.seed * 300 + i, args.sync_python, args.asap_seconds) for i, r in enumerate(rows)]))]
        report("asap", res, per_group=True)
        kept = [(g, {m: v[~r["_squeezed"]] if not m.startswith("_") else v for m, v in r.items()}
                 | {"_on_notes": r["_on_notes"][~r["_squeezed"]]}) for g, r in res]
        n_out = sum(int(r["_squeezed"].sum()) for _, r in res)
        if n_out:
            report("asap*", kept)
            print(f"asap*: all performances without the {n_out} beats that annotations squeeze into a skipped "
                  "passage (a repeat played once): not played, no true time")
        on = [(g, {m: v[r["_on_notes"]] for m, v in r.items() if not m.startswith("_")}) for g, r in kept]
        report("asap*✓", on)
        print("asap*✓: of those, the beats annotated within 50 ms of a played note of the beat's score pitches "
              "(the rest fall in held notes or where the annotation was interpolated)")
    pool.shutdown()  # before the interpreter exits (an OSError at exit otherwise)


if __name__ == "__main__":
    main()
