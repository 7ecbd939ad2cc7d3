from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from chromatool.alignment import align_notes
from chromatool.labels import labels_csv, read_labels
from chromatool.cli import app
from chromatool.render import TempoCurve, can_render, synthesize
from chromatool.score import notelist_from_music21

from conftest import DATA, REAL, SR, need

runner = CliRunner()


@pytest.fixture(scope="module")
def chorale():
    import music21

    return notelist_from_music21(music21.corpus.parse("bach/bwv66.6"), source="bwv66.6")


def onset_errors(score, aligned, truth_curve):
    return np.abs(aligned.onset - truth_curve(score.onset))


@pytest.mark.parametrize("synthesis", ["notes", "fluidsynth"])
def test_time_warped_render_aligns_back(chorale, synthesis):
    if synthesis == "fluidsynth" and not can_render():
        pytest.skip("FluidSynth is not installed")
    curve = TempoCurve(chorale.duration, rng=np.random.default_rng(4), scale=1.2, max_ratio=1.3)
    y = synthesize(curve.apply(chorale))
    a = align_notes(chorale, y, synthesis=synthesis)
    assert a.synthesis == synthesis
    err = onset_errors(chorale, a.notes, curve)
    assert np.median(err) < 0.05
    assert np.mean(err < 0.1) > 0.9
    assert a.warnings() == []
    assert a.path.shape[0] == 2 and np.all(np.diff(a.path, axis=1) >= 0)


def test_mismatched_pair_warns(chorale):
    import music21

    other = notelist_from_music21(music21.corpus.parse("bach/bwv1.6"))
    a = align_notes(chorale, synthesize(other), synthesis="notes")
    assert any("mean alignment cost" in w for w in a.warnings())


def test_musicnet_format_round_trips(tmp_path):
    src = need(DATA / "formats" / "musicnet_2382_labels.csv")
    notes = read_labels(src)
    text = labels_csv(notes, fmt="musicnet")
    original = src.read_text().splitlines()
    assert text.splitlines()[0] == original[0]
    out = tmp_path / "l.csv"
    out.write_text(text)
    back = read_labels(out)
    orig_rows = sorted(tuple(r.split(",")[:5]) for r in original[1:])
    new_rows = sorted(tuple(r.split(",")[:5]) for r in text.splitlines()[1:])
    assert orig_rows == new_rows  # samples, instrument, note and measure survive exactly
    np.testing.assert_array_equal(np.sort(back.pitch), np.sort(notes.pitch))


def test_cli_align_end_to_end(tmp_path, chorale):
    import pretty_midi  # noqa: F401

    from chromatool.render import to_pretty_midi

    score = tmp_path / "c.mid"
    to_pretty_midi(chorale).write(str(score))
    wav = tmp_path / "c.wav"
    sf.write(wav, synthesize(chorale.time_scaled(1.1)), SR)
    out = tmp_path / "labels.csv"
    r = runner.invoke(app, ["align", str(score), str(wav), "-o", str(out), "--path",
                            str(tmp_path / "p.csv"), "--plot", str(tmp_path / "a.png"),
                            "--synthesis", "notes"])
    assert r.exit_code == 0, r.output
    rows = out.read_text().splitlines()
    assert rows[0] == "start_time,end_time,instrument,note,start_beat,end_beat,measure,note_value"
    assert len(rows) == len(chorale) + 1
    assert (tmp_path / "a.png").stat().st_size > 10000
    assert (tmp_path / "p.csv").read_text().startswith("score_time,audio_time")
    r = runner.invoke(app, ["align", str(score), str(wav), "-o", str(out)])
    assert r.exit_code == 1 and "exists" in r.output
    mn = tmp_path / "mn.csv"
    r = runner.invoke(app, ["align", str(score), str(wav), "-o", str(mn), "-f", "musicnet", "--synthesis", "notes"])
    assert r.exit_code == 0 and mn.read_text().startswith("start_sample,end_sample,instrument_id")


def test_cli_fallback_without_fluidsynth(tmp_path, chorale, monkeypatch):
    import chromatool.render as render

    monkeypatch.setattr(render, "fluidsynth_path", lambda: None)
    from chromatool.render import to_pretty_midi

    score = tmp_path / "c.mid"
    to_pretty_midi(chorale).write(str(score))
    wav = tmp_path / "c.wav"
    sf.write(wav, synthesize(chorale), SR)
    r = runner.invoke(app, ["align", str(score), str(wav), "-o", str(tmp_path / "l.csv")])
    assert r.exit_code == 0, r.output
    assert "FluidSynth or a soundfont is missing" in r.stderr


def test_bad_inputs(tmp_path):
    empty = tmp_path / "e.csv"
    empty.write_text("Start;Duration;Pitch\n")
    sf.write(tmp_path / "s.wav", np.zeros(1000), SR)
    r = runner.invoke(app, ["align", str(empty), str(tmp_path / "s.wav"), "-o", str(tmp_path / "o.csv")])
    assert r.exit_code == 1 and "no notes" in r.output
    q = tmp_path / "q.csv"
    q.write_text("Start;Duration;Pitch\n0;1;60\n")
    r = runner.invoke(app, ["align", str(q), str(tmp_path / "s.wav"), "-o", str(tmp_path / "o.csv")])
    assert r.exit_code == 1 and "audio is silent" in r.output
    assert not (tmp_path / "o.csv").exists()


def test_real_chopin_performances_agree_on_bars():
    R = need(REAL / "chopin_op10-3")
    from chromatool.alignment import align

    score = R / "Chopin_Op010-03-Measures1-8_MIDI.mid"
    firsts = []
    for perf in ("Igoshina", "Varsi"):
        a = align(score, R / f"Chopin_Op010-03-Measures1-8_{perf}.wav", synthesis="notes")
        assert a.warnings() == []
        bars = [a.notes.onset[a.notes.measure == m].min() for m in np.unique(a.notes.measure)]
        assert np.all(np.diff(bars) > 0)
        firsts.append(np.array(bars) / sf.info(str(R / f"Chopin_Op010-03-Measures1-8_{perf}.wav")).duration)
    # bar lines sit at similar relative positions in both performances
    assert np.median(np.abs(firsts[0] - firsts[1])) < 0.08


def test_part_names_with_line_breaks_round_trip(tmp_path, chorale):
    from dataclasses import replace

    notes = replace(chorale, part_names=("Soprano\rOboe 1,2\rViolin1", "Alto\nViola", "Tenor", "Bass"))
    out = tmp_path / "l.csv"
    out.write_text(labels_csv(notes))
    back = read_labels(out)
    assert len(back) == len(notes)
    assert {"Soprano Oboe 1,2 Violin1", "Alto Viola", "Tenor", "Bass"} == set(back.part_names)


def test_every_render_ends_with_all_sound_off():
    """A stuck voice (seen: a dataset render of Josquin's Mille regrets on TimGM6mb's cello) made
    FluidSynth write audio until its 600 s timeout; every MIDI chromatool renders now ends with
    "all sound off" (CC 120) on every channel shortly after the last note."""
    import music21

    from chromatool.render import SILENCE_AFTER, to_pretty_midi

    notes = notelist_from_music21(music21.corpus.parse("bach/bwv66.6"))
    pm = to_pretty_midi(notes)
    last = max(n.end for inst in pm.instruments for n in inst.notes)
    for inst in pm.instruments:
        off = [c for c in inst.control_changes if c.number == 120]
        assert len(off) == 1 and abs(off[0].time - (last + SILENCE_AFTER)) < 1e-6


def test_repeat_the_recording_leaves_out_is_left_out(chorale, tmp_path):
    """A score that writes a repeat out, against a performance that plays it once: the repeat is
    found, left out of the labels with a warning, and the other notes land where they were
    played; against a performance that plays it twice, nothing is left out."""
    from chromatool.render import to_pretty_midi
    from chromatool.repeats import find_repeats, write_out

    if not can_render():
        pytest.skip("FluidSynth is not installed")
    cut = float(chorale.onset[np.searchsorted(chorale.onset, chorale.duration / 2)])
    written = write_out(chorale, 0.0, cut)
    assert find_repeats(written) == [find_repeats(written)[0]] and find_repeats(written)[0].left_out == (cut, 2 * cut)
    once = synthesize(chorale.time_scaled(1.2))
    a = align_notes(written, once)
    assert a.left_out == [(cut, 2 * cut)]
    assert len(a.notes) == len(chorale)  # the second pass is not labelled
    err = np.abs(a.notes.onset - 1.2 * chorale.onset)
    assert np.median(err) < 0.05 and np.mean(err < 0.1) > 0.9
    assert any("leaves out the repeat" in w for w in a.warnings())
    # a score time inside the left-out pass maps to where the performance skips it
    assert abs(float(a.to_recording(cut + 2.0)) - float(a.to_recording(cut - 1e-3))) < 0.1
    kept = align_notes(written, once, repeats="as-written")
    assert kept.left_out == [] and len(kept.notes) == len(written)
    twice = align_notes(written, synthesize(written.time_scaled(1.2)))
    assert twice.left_out == [] and len(twice.notes) == len(written)
    with pytest.raises(Exception, match="repeats must be one of"):
        align_notes(written, once, repeats="never")
    score, wav = tmp_path / "w.mid", tmp_path / "once.wav"
    to_pretty_midi(written).write(str(score))
    sf.write(wav, once, SR)
    r = runner.invoke(app, ["align", str(score), str(wav), "-o", str(tmp_path / "l.csv"), "--plot", str(tmp_path / "a.png")])
    assert r.exit_code == 0, r.output
    assert "leaves out the repeat" in r.stderr and (tmp_path / "a.png").stat().st_size > 10000
    assert len((tmp_path / "l.csv").read_text().splitlines()) == len(chorale) + 1
    r = runner.invoke(app, ["align", str(score), str(wav), "-o", str(tmp_path / "m.csv"), "--repeats", "never"])
    assert r.exit_code == 2 and "--repeats" in r.output


def test_refinement_keeps_the_pulse_against_a_stronger_neighbouring_onset(tmp_path):
    """Five C4s every 0.5 s; a louder C4 120 ms before the third one, nearer the path: the
    strongest peak alone would take it, the tempo-aware choice keeps the steady pulse."""
    from chromatool.refine import refine_onset_groups
    from chromatool.score import read_score

    path = tmp_path / "notes.csv"
    path.write_text("Start;Duration;Pitch\n" + "".join(f"{0.5 * i};0.4;60\n" for i in range(5)))
    notes = read_score(path)
    fr, truth = 50.0, 0.3 + 0.5 * np.arange(5)
    C = np.zeros((216, 200), np.float32)
    row = (60 - 24) * 3 + 1
    for t, amp in [*[(t, 1.0) for t in truth if abs(t - 1.3) > 0.01], (1.3, 0.05), (1.18, 1.0)]:
        C[row, int(round(t * fr)):int(round(t * fr)) + 5] = amp
    path_times = truth.copy()
    path_times[2] = 1.22
    on, anchors = refine_onset_groups(notes, path_times, C, fr)
    assert np.allclose(on, truth, atol=0.02), on
    assert anchors.shape == (2, 5)



def test_refinement_looks_again_where_the_path_strayed(tmp_path):
    """Four C4s a second apart; the path puts the third 0.35 s early, beyond the search window:
    the first pass leaves it at the path, the second look finds it on the line between the
    placed notes."""
    from chromatool.refine import WINDOW_SECONDS, refine_onset_groups
    from chromatool.score import read_score

    path = tmp_path / "notes.csv"
    path.write_text("Start;Duration;Pitch\n" + "".join(f"{float(i)};0.5;60\n" for i in range(4)))
    notes = read_score(path)
    fr, truth = 50.0, 0.4 + np.arange(4.0)
    C = np.zeros((216, 250), np.float32)
    for t in truth:
        C[(60 - 24) * 3 + 1, int(round(t * fr)):int(round(t * fr)) + 10] = 1.0
    path_times = truth.copy()
    path_times[2] -= 0.35
    assert 0.35 > WINDOW_SECONDS
    once, anchors = refine_onset_groups(notes, path_times, C, fr, lag=False, second_look=False)
    assert abs(once[2] - path_times[2]) < 1e-9 and anchors.shape == (2, 3)
    on, anchors = refine_onset_groups(notes, path_times, C, fr, lag=False)
    np.testing.assert_allclose(on, truth, atol=0.02)
    assert anchors.shape == (2, 4)


def test_a_chord_after_its_bass_is_placed_at_its_notes_median(tmp_path, monkeypatch):
    """A pianist's bass 0.12 s before the three notes above it: the loud bass is the group's
    strongest rise, but the group (and the beat on it) goes to the median of its notes' onsets,
    where ASAP's annotations put it; a chord played together stays where it is. Only where the
    score says piano: an ensemble's parts differ in attack."""
    from dataclasses import replace

    from chromatool import refine
    from chromatool.score import read_score

    path = tmp_path / "notes.csv"
    path.write_text("Start;Duration;Pitch\n" + "".join(f"{s};0.8;{p}\n" for s in (0.0, 1.0) for p in (36, 60, 64, 67)))
    unknown = read_score(path)  # a note list: no instruments
    notes = replace(unknown, program=np.zeros(len(unknown), int))  # a piano
    fr = 50.0
    C = np.zeros((216, 150), np.float32)
    for p, t, amp in [(36, 0.4, 3.0), (60, 0.52, 1.0), (64, 0.52, 1.0), (67, 0.52, 1.0),
                      *[(p, 1.5, 1.0) for p in (36, 60, 64, 67)]]:
        C[(p - 24) * 3 + 1, int(round(t * fr)):int(round(t * fr)) + 20] = amp
    path_times = np.repeat([0.42, 1.5], 4)
    on, _ = refine.refine_onset_groups(notes, path_times, C, fr, lag=False)
    np.testing.assert_allclose(on, np.repeat([0.52, 1.5], 4), atol=0.021)
    on, _ = refine.refine_onset_groups(unknown, path_times, C, fr, lag=False)
    assert abs(on[0] - 0.4) < 0.021  # not a piano score: the bass's rise
    monkeypatch.setattr(refine, "SPREAD_SECONDS", 0)
    on, _ = refine.refine_onset_groups(notes, path_times, C, fr, lag=False)
    assert abs(on[0] - 0.4) < 0.021  # turned off: the bass's rise


def test_the_chord_centre_looks_as_far_as_the_next_chord(tmp_path):
    """A bass 0.35 s before its chord (a Romantic pianist's habit) still goes to the chord's
    median onset; a quiet chord struck again loudly 0.2 s later keeps its own time, since each
    pitch is sought only up to SPREAD_NEXT_SHARE of the way to the next group's time."""
    from dataclasses import replace

    from chromatool import refine
    from chromatool.score import read_score

    def placed(groups, hits, path):
        f = tmp_path / f"{len(groups)}.csv"
        f.write_text("Start;Duration;Pitch\n" + "".join(f"{s};0.2;{p}\n" for s in groups for p in (36, 60, 64, 67)))
        notes = read_score(f)
        notes = replace(notes, program=np.zeros(len(notes), int))  # a piano
        C = np.zeros((216, 150), np.float32)
        for p, t, amp in hits:
            C[(p - 24) * 3 + 1, int(round(t * 50)):int(round(t * 50)) + 20] = amp
        return refine.refine_onset_groups(notes, np.repeat(path, 4), C, 50.0, lag=False)[0][::4]

    late = [(36, 0.4, 3.0), *[(p, 0.75, 1.0) for p in (60, 64, 67)], *[(p, 1.5, 1.0) for p in (36, 60, 64, 67)]]
    on = placed((0.0, 1.0), late, [0.42, 1.5])
    np.testing.assert_allclose(on, [0.75, 1.5], atol=0.021)
    again = [(36, 0.4, 3.0), *[(p, 0.4, 0.01) for p in (60, 64, 67)], *[(p, 0.6, 3.0) for p in (36, 60, 64, 67)],
             *[(p, 1.5, 1.0) for p in (36, 60, 64, 67)]]
    on = placed((0.0, 0.2, 1.0), again, [0.4, 0.6, 1.5])
    np.testing.assert_allclose(on, [0.4, 0.6, 1.5], atol=0.021)


def test_a_note_after_an_unwritten_pause_is_found_between_its_placed_neighbours(tmp_path, monkeypatch):
    """The pianist plays E4 early and then pauses 2 s before G4; the path puts E4 a second late,
    out of the refinement's reach, and the line between the placed neighbours is no nearer. The
    gap search finds E4's rise between them, in a piano score only (GAP_MAX_GROUPS)."""
    from dataclasses import replace

    from chromatool import refine
    from chromatool.score import read_score

    path = tmp_path / "notes.csv"
    path.write_text("Start;Duration;Pitch\n0.0;1.0;60\n1.0;1.0;64\n2.0;1.0;67\n")
    unknown = read_score(path)
    piano = replace(unknown, program=np.zeros(len(unknown), int))
    C = np.zeros((216, 250), np.float32)
    for p, t in [(60, 0.5), (64, 1.2), (67, 3.5)]:
        C[(p - 24) * 3 + 1, int(t * 50):int(t * 50) + 30] = 1.0
    path_times = np.array([0.5, 2.2, 3.5])
    on, anchors = refine.refine_onset_groups(piano, path_times, C, 50.0, lag=False)
    np.testing.assert_allclose(on, [0.5, 1.2, 3.5], atol=0.021)
    assert anchors.shape == (2, 3)
    on, _ = refine.refine_onset_groups(unknown, path_times, C, 50.0, lag=False)
    assert abs(on[1] - 1.2) > 0.5  # not a keyboard score: left where the path has it
    monkeypatch.setattr(refine, "GAP_MAX_GROUPS", 0)
    on, _ = refine.refine_onset_groups(piano, path_times, C, 50.0, lag=False)
    assert abs(on[1] - 1.2) > 0.5  # turned off


def test_dtw_features_tell_registers_apart_where_chroma_cannot():
    """A C2 and a C5 have the same chroma; the per-semitone part of the DTW features keeps them
    apart, at the weights PITCH_WEIGHTS gives (and not at all with weight 0)."""
    from chromatool import defaults as D
    from chromatool.align_features import PITCH_WEIGHTS, alignment_features, dtw_features

    C = np.full((D.N_BINS, 40), 1e-4, np.float32)
    for frames, midi in ((slice(0, 20), 36), (slice(20, 40), 72)):
        C[(midi - D.MIDI_MIN) * D.BINS_PER_SEMITONE + 1, frames] = 1.0  # centre bin
    X = alignment_features(C, 50.0)
    low, high = 10, 30
    assert X["pitch"].shape == (D.N_BINS // D.BINS_PER_SEMITONE, 40)
    assert float(X["chroma"][:, low] @ X["chroma"][:, high]) > 0.99
    for fine in dtw_features(X, PITCH_WEIGHTS["fluidsynth"]):
        if fine.shape[0] > 12:
            assert float(fine[:, low] @ fine[:, high]) < 0.99
    coarse = dtw_features(X, PITCH_WEIGHTS["fluidsynth"])[1]
    assert coarse.shape[0] == 12 + X["pitch"].shape[0]
    assert float(coarse[:, low] @ coarse[:, high]) < 0.8
    assert dtw_features(X, (0.0, 0.0))[0] is X["chroma"]


def test_beats_off_every_onset_are_carried_at_a_steady_tempo():
    """A beat inside a held note lies on the line between its neighbours that have onsets,
    whatever the notes between them do; beats on onsets follow the time map."""
    from chromatool.alignment import carry_beats

    beats = np.arange(6.0)  # score beats at 0..5 s
    onsets = np.array([0.0, 1.0, 2.5, 4.0, 5.0])  # beats 2 and 3 lie inside a note held from 1.0; 2.5 is off-beat
    def time_map(t):  # the performer lingers after the off-beat note at 2.5
        return np.interp(t, [0, 1, 2.5, 4, 5], [0, 1, 2.0, 5.0, 6.0])
    got = carry_beats(beats, onsets, time_map)
    np.testing.assert_allclose(got[[0, 1, 4, 5]], [0, 1, 5, 6])
    np.testing.assert_allclose(got[[2, 3]], [2.333333, 3.666667], atol=1e-5)  # steady from 1 s to 5 s
    assert not np.allclose(got, time_map(beats))
