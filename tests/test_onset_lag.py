from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from chromatool import defaults as D
from chromatool.onset_lag import WEIGHTS, lag_features, predict_lags
from chromatool.render import can_render, render


@pytest.fixture(scope="module")
def chorale():
    import music21

    from chromatool.score import notelist_from_music21

    return notelist_from_music21(music21.corpus.parse("bach/bwv66.6"), source="bwv66.6")


@pytest.mark.skipif(not WEIGHTS.is_file(), reason="no packaged onset-lag model")
@pytest.mark.parametrize("program", [19, 0])  # an organ's pipes speak late; a piano strikes
def test_slow_attacks_move_back_to_their_note_ons_and_piano_onsets_stay(chorale, program):
    """A chorale played on one instrument, with DTW leaving every onset 30 ms late: refinement
    puts the organ's groups on their rises, 15–30 ms after the note-ons, and the lag model takes
    most of that back; a piano's rise is on its note-on, and the model leaves it there."""
    if not can_render():
        pytest.skip("FluidSynth is not installed")
    from chromatool.align_features import recording_cqt
    from chromatool.refine import refine_onset_groups

    notes = replace(chorale, program=np.full(len(chorale), program))
    C = recording_cqt(render(notes), D.ALIGN_FEATURE_RATE)
    err = {}
    for lag in (False, True):
        on, _ = refine_onset_groups(notes, notes.onset + 0.03, C, D.ALIGN_FEATURE_RATE, lag=lag)
        err[lag] = np.median(np.abs(on - notes.onset))
    if program == 19:
        assert err[False] > 0.012
        assert err[True] < 0.67 * err[False]
    else:
        assert err[True] < 0.01
        assert err[True] <= err[False] + 0.002


def test_no_correction_at_a_rate_the_model_was_not_trained_for():
    O = np.zeros((72, 100), np.float32)
    O[36, 50] = 1.0
    F = lag_features(O, np.cumsum(O, axis=1), np.array([60]), 1.0, 50.0)[None]
    assert F.shape[1] == 3 * 15 + 4
    assert np.all(predict_lags(F, 100.0) == 0)
    assert np.all(predict_lags(F, 50.0, weights="/nonexistent.npz") == 0)
