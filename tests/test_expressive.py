"""Alignment on expressive performances, tuning, and the checks that refuse impossible pairs."""

from __future__ import annotations

import csv
import os
from dataclasses import replace

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from chromatool import features as F
from chromatool.alignment import align_notes
from chromatool.cli import app
from chromatool.errors import ChromatoolError, ParameterError
from chromatool.expressive import TimeMap, expressive_timing, spread_chords
from chromatool.render import can_render, detune, pad, render, synthesize
from chromatool.score import notelist_from_music21
from chromatool.tuning import estimate_tuning, resolve_tuning

from conftest import SR, tone

runner = CliRunner()
#: The recordings here are played with another soundfont than the aligner's own score render.
OTHER_FONT = "/usr/share/sounds/sf2/TimGM6mb.sf2"


@pytest.fixture(scope="module")
def chorale():
    import music21

    return notelist_from_music21(music21.corpus.parse("bach/bwv66.6"), source="bwv66.6")


def _play(notes, rng):
    from pathlib import Path

    if can_render() and Path(OTHER_FONT).is_file():
        return render(notes, soundfont=OTHER_FONT)
    return synthesize(notes)


def test_time_map_pause_has_two_sides():
    tm = TimeMap(np.array([0.0, 1.0, 1.0, 2.0]), np.array([0.0, 1.0, 3.0, 4.0]))
    assert tm(np.array([1.0]))[0] == 3.0  # an onset at the pause comes after it
    assert tm(np.array([1.0]), side="left")[0] == 1.0  # a note ending there ends before it
    with pytest.raises(ParameterError):
        TimeMap(np.array([0.0, 2.0, 1.0]), np.array([0.0, 1.0, 2.0]))


def test_expressive_timing_has_fermatas_pauses_and_stays_monotone(chorale):
    rng = np.random.default_rng(3)
    tm = expressive_timing(chorale, rng=rng, fermata_share=1.0, pause_share=1.0, tempo=(1.0, 1.0))
    assert np.all(np.diff(tm.performance) >= 0)
    jumps = np.flatnonzero(np.diff(tm.score) == 0)
    gaps = tm.performance[jumps + 1] - tm.performance[jumps]
    assert jumps.size >= 1 and np.all((gaps >= 0.5) & (gaps <= 3.0))
    played = spread_chords(tm.apply(chorale), rng=rng, seconds=0.03)
    assert np.all(played.offset > played.onset)
    shift = played.onset - tm(chorale.onset)
    assert np.abs(shift).max() <= 0.03 + 1e-9 and np.std(shift) > 0.005


def test_expressive_item_with_fermatas_pause_tuning_and_silence_aligns(chorale):
    rng = np.random.default_rng(7)
    perf = replace(chorale, program=np.array([(40, 41, 42, 42)[p] for p in chorale.part]))  # bowed strings
    tm = expressive_timing(perf, rng=rng, fermata_share=1.0, pause_share=1.0)
    played = spread_chords(tm.apply(perf), rng=rng)
    cents, lead = 35.0, 4.0
    y = pad(detune(_play(played, rng), cents), lead=lead, trail=3.0, rng=rng)
    a = align_notes(chorale, y)
    truth = played.onset / 2 ** (cents / 1200) + lead
    err = np.abs(a.notes.onset - truth)
    assert abs(a.tuning - cents) < 10
    assert np.median(err) < 0.04
    assert np.mean(err < 0.1) > 0.9


def test_cross_version_item_aligns(chorale):
    rng = np.random.default_rng(11)
    rec = spread_chords(expressive_timing(chorale, rng=rng).apply(chorale), rng=rng)
    other = replace(chorale, program=np.full(len(chorale), 73))  # the "score": a flute version
    score = spread_chords(expressive_timing(other, rng=rng).apply(other), rng=rng)
    y = _play(rec, rng)
    a = align_notes(score, y)
    err = np.abs(a.notes.onset - rec.onset)
    assert np.median(err) < 0.04
    assert np.mean(err < 0.1) > 0.9


def test_estimate_tuning_of_a_detuned_chord():
    y = tone([57, 60, 64], seconds=3, harmonics=4)
    assert abs(estimate_tuning(y)) < 5
    assert abs(estimate_tuning(detune(y, 40)) - 40) < 5
    assert abs(estimate_tuning(detune(y, -25)) + 25) < 5


def test_tuning_estimate_equals_librosas(tmp_path):
    """chromatool's numpy estimate is librosa.estimate_tuning's (same settings) written again.
    librosa runs in a child process compiled for a generic CPU: on some hosts numba's native
    code for librosa's peak interpolation crashes the interpreter."""
    import json
    import subprocess
    import sys

    rng = np.random.default_rng(3)
    signals = []
    for cents in (-47, -18, 0, 9, 33):
        y = detune(tone(list(rng.integers(45, 80, 4)), seconds=4, harmonics=5), cents)
        signals.append((y + 0.01 * rng.standard_normal(y.size)).astype(np.float32))
    np.savez(tmp_path / "y.npz", *signals)
    code = ("import json, sys, warnings, numpy as np, librosa; warnings.simplefilter('ignore'); "
            "print(json.dumps([100 * float(librosa.estimate_tuning(y=y, sr=int(sys.argv[2]), n_fft=4096, "
            "resolution=0.01, bins_per_octave=12)) for _, y in sorted(np.load(sys.argv[1]).items())]))")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "y.npz"), str(SR)], capture_output=True,
                       text=True, env={**os.environ, "NUMBA_CPU_NAME": "generic"})
    assert r.returncode == 0, r.stderr[-2000:]
    for y, ref in zip(signals, json.loads(r.stdout)):
        assert abs(estimate_tuning(y) - ref) < 1e-6


def test_forty_cents_sharp_gives_the_same_chroma():
    y = tone([60, 64, 67, 71], seconds=3, harmonics=6)
    sharp = detune(y, 40)
    for kind in ("chroma", "cens", "stft-chroma", "cqt"):
        ref = F.compute(kind, y).data.mean(-1)
        naive = F.compute(kind, sharp).data.mean(-1)
        tuned = F.compute(kind, sharp, tuning=estimate_tuning(sharp)).data.mean(-1)
        cos = lambda a, b: float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))  # noqa: E731
        assert cos(ref, tuned) > 0.99, kind
        assert cos(ref, tuned) > cos(ref, naive), kind


def test_tuning_values_are_checked():
    assert resolve_tuning("auto", tone(69)) == pytest.approx(0, abs=5)
    assert resolve_tuning("-15") == -15.0
    for bad in ("sharp", 60, "-51"):
        with pytest.raises(ParameterError, match="tuning"):
            resolve_tuning(bad)


def test_duration_mismatch_is_refused_unless_forced(chorale):
    y = synthesize(chorale.time_scaled(0.05))[: SR]  # a 22 s score against one second
    with pytest.raises(ChromatoolError, match="more than 3x apart"):
        align_notes(chorale, y, synthesis="notes")
    a = align_notes(chorale, y, synthesis="notes", force=True)
    assert a.notes.onset.max() <= 1.0 + 1e-6


def test_high_cost_warning_names_the_stretch(chorale):
    import music21

    other = synthesize(notelist_from_music21(music21.corpus.parse("bach/bwv1.6")))[: 12 * SR]
    y = synthesize(chorale)
    half = y.size // 2
    y = np.concatenate([y[:half], other, y[half:]])  # 12 s of another piece in the middle
    a = align_notes(chorale, y, synthesis="notes")
    stretches = [w for w in a.warnings() if w.startswith("high alignment cost")]
    assert stretches, a.warnings()
    start, end = (float(x) for x in stretches[0].split(" from ")[1].split(" s of")[0].split(" s to "))
    assert start < half / SR + 12 and end > half / SR  # it overlaps the inserted stretch


def test_cli_tuning_is_recorded_in_sidecars(tmp_path):
    wav = tmp_path / "a.wav"
    sf.write(wav, detune(tone([60, 64, 67], seconds=2, harmonics=4), 30), SR)
    r = runner.invoke(app, ["features", str(wav), "-o", str(tmp_path / "c.npy")])
    assert r.exit_code == 0, r.output
    import json

    meta = json.loads((tmp_path / "c.json").read_text())
    assert abs(meta["params"]["tuning"] - 30) < 5
    r = runner.invoke(app, ["features", str(wav), "-o", str(tmp_path / "d.npy"), "--tuning", "0"])
    assert json.loads((tmp_path / "d.json").read_text())["params"]["tuning"] == 0
    r = runner.invoke(app, ["features", str(wav), "-o", str(tmp_path / "e.npy"), "--tuning", "x"])
    assert r.exit_code != 0 and "--tuning" in r.output
    for cmd in ("align", "retrieve", "extract"):
        assert "--tuning" in runner.invoke(app, [cmd, "--help"]).output


def test_cli_refuses_a_duration_mismatch_and_names_the_flag(tmp_path, chorale):
    from chromatool.render import to_pretty_midi

    score = tmp_path / "c.mid"
    to_pretty_midi(chorale).write(str(score))
    sf.write(tmp_path / "short.wav", synthesize(chorale.time_scaled(0.05))[:SR], SR)
    r = runner.invoke(app, ["align", str(score), str(tmp_path / "short.wav"), "-o", str(tmp_path / "l.csv"),
                            "--synthesis", "notes"])
    assert r.exit_code == 1 and "more than 3x apart" in r.output and "--force" in r.output
    assert not (tmp_path / "l.csv").exists()
    r = runner.invoke(app, ["align", str(score), str(tmp_path / "short.wav"), "-o", str(tmp_path / "l.csv"),
                            "--synthesis", "notes", "--force"])
    assert r.exit_code == 0 and (tmp_path / "l.csv").exists()


def test_training_renders_keep_labels_on_the_music(tmp_path):
    """Expressive timing, ±50 cents, room tone, EQ, compression and lossy coding: the labels
    still sit on the notes (their chroma matches the audio's far better than shifted labels)."""
    from chromatool.audio import load_audio
    from chromatool.dataset import RenderSettings, build_dataset, corpus_scores, pick_pieces
    from chromatool.labels import read_labels

    if not can_render():
        pytest.skip("FluidSynth is not installed")
    scores = pick_pieces(corpus_scores(("bach",)), 1, np.random.default_rng(4))
    settings = RenderSettings(excerpts=1, expressive_share=1.0, max_cents=50, max_pad=3.0, lossy_share=1.0)
    ctc, bce, _ = build_dataset(scores, tmp_path / "d", seed=4, settings=settings)
    row = bce.read_text().splitlines()[1].split(",")
    y = load_audio(tmp_path / "d" / row[0])
    notes = read_labels(tmp_path / "d" / row[1])
    audio = F.chroma(y, tuning=estimate_tuning(y)).data
    n = audio.shape[1]

    def agreement(shift: float) -> float:
        lab = replace(notes, onset=notes.onset + shift, offset=notes.offset + shift).chroma(n_frames=n)
        keep = lab.sum(axis=0) > 0
        a = audio[:, keep] / np.linalg.norm(audio[:, keep], axis=0)
        b = lab[:, keep] / np.linalg.norm(lab[:, keep], axis=0)
        return float(np.mean(np.sum(a * b, axis=0)))

    assert agreement(0.0) > 0.55
    assert agreement(0.0) > agreement(0.7) + 0.1 and agreement(0.0) > agreement(-0.7) + 0.1


def test_asap_performances_render_with_pedal_sustained_labels(tmp_path):
    """dataset --asap: real pianists' timing and pedal; the labels' note ends follow the pedal."""
    import pretty_midi

    from chromatool.labels import read_labels
    from chromatool.performances import asap_performances
    from conftest import DATA, need

    root = need(DATA / "asap")
    if not can_render():
        pytest.skip("FluidSynth is not installed")
    r = runner.invoke(app, ["dataset", str(tmp_path / "p"), "--asap", str(root), "--pieces", "1", "--seed", "1"])
    assert r.exit_code == 0, r.output
    rows = (tmp_path / "p" / "bce.csv").read_text().splitlines()
    assert len(rows) == 2
    audio, labels, group = rows[1].split(",")
    assert "/" in group  # composer-level piece folder: all performances of a piece in one split
    notes = read_labels(tmp_path / "p" / labels)
    perf = next(p for p in asap_performances(root) if p.stem in audio and p.parent.name in audio)
    raw = [n for i in pretty_midi.PrettyMIDI(str(perf)).instruments for n in i.notes if n.start < 300]
    assert len(notes) == len(raw)
    held = np.sort(notes.offset - notes.onset)
    keys = np.sort([n.end - n.start for n in raw])
    assert held.mean() > keys.mean()  # the pedal sustains notes beyond their key release
    # theme excerpts from the score's top voice, placed through the beats: the played notes
    with open(tmp_path / "p" / "ctc.csv", newline="") as f:
        excerpts = list(csv.DictReader(f))
    assert excerpts
    for e in excerpts:
        theme = np.loadtxt(tmp_path / "p" / e["theme"], delimiter=";", skiprows=1, ndmin=2)
        onsets, pitches = float(e["start"]) + theme[:, 0], theme[:, 2].astype(int) + int(e["transpose"])
        near = [np.any((notes.pitch == p) & (np.abs(notes.onset - t) < 0.15)) for t, p in zip(onsets, pitches)]
        assert np.mean(near) > 0.8, e


def test_theme_excerpts_fit_a_ctc_path():
    """An excerpt with more notes than half its frames (a fast run) would make the ctc manifest
    unreadable: the excerpts leave such runs out and keep the singable stretches."""
    from chromatool.dataset import RenderSettings
    from chromatool.excerpts import _excerpts
    from chromatool.score import _from_rows

    fast = np.arange(0, 20, 0.02)  # 50 notes a second for 20 s, then a tune of 4 a second
    slow = 20 + np.arange(0, 20, 0.25)
    on = np.concatenate([fast, slow])
    notes = _from_rows([(a, a + 0.02, 60 + i % 12, 0.0, 0.0, 64, 0, 0, -1, "") for i, a in enumerate(on)],
                       source="test")
    spans = _excerpts(notes, RenderSettings(excerpts=3), np.random.default_rng(0))
    assert spans and all(t0 >= 20 - 1e-9 for t0, _ in spans)


def test_vibrato_bends_the_pitch_of_singers_not_of_pianos(tmp_path):
    """A held choir note rendered with vibrato wavers by tens of cents (YIN f0), without it
    by a few; a piano part gets no pitch bends at all."""
    import librosa
    import pretty_midi

    from chromatool.expressive import add_vibrato
    from chromatool.score import read_score

    pm = pretty_midi.PrettyMIDI()
    pm.instruments.append(pretty_midi.Instrument(program=0))
    pm.instruments[0].notes.append(pretty_midi.Note(velocity=80, pitch=60, start=0.0, end=3.0))
    add_vibrato(pm, rng=np.random.default_rng(0))
    assert pm.instruments[0].pitch_bends == []
    if not can_render():
        pytest.skip("FluidSynth is not installed")
    (tmp_path / "a.csv").write_text("Start;Duration;Pitch\n0.0;3.0;69\n")
    notes = read_score(tmp_path / "a.csv")
    notes = replace(notes, program=np.full(len(notes), 52))

    def spread(vibrato) -> float:
        y = render(notes, vibrato=vibrato)[int(0.8 * SR):int(2.8 * SR)]
        return float(np.std(1200 * np.log2(librosa.yin(y, fmin=300, fmax=600, sr=SR) / 440)))

    assert spread(np.random.default_rng(0)) > spread(None) + 15
