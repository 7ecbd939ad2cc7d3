from __future__ import annotations

import numpy as np
import pytest

from chromatool.errors import ScoreError
from chromatool.score import notelist_from_music21, read_score

from conftest import REAL, need

MTD1066 = REAL / "mtd_themes" / "data_EDM-corr_CSV_MTD1066_Beethoven_Op067-01.csv"


def test_mtd_theme():
    n = read_score(need(MTD1066))
    assert list(n.pitch) == [67, 67, 67, 63, 65, 65, 65, 62]
    assert n.onset[0] == pytest.approx(0.5)
    c = n.chroma(feature_rate=25)
    assert c.shape == (12, int(np.ceil(n.duration * 25)))
    assert c[7, 13] == 1 and c[3, 55] == 1  # G at 0.52 s, Eb at 2.2 s


@pytest.fixture(scope="module")
def chorale(tmp_path_factory):
    import music21

    s = music21.corpus.parse("bach/bwv66.6")
    d = tmp_path_factory.mktemp("scores")
    s.write("midi", fp=d / "c.mid")
    s.write("musicxml", fp=d / "c.musicxml")
    return s, d


def test_fast_midi_path_gives_music21s_notes(chorale):
    import music21

    _, d = chorale
    fast = read_score(d / "c.mid")
    slow = notelist_from_music21(music21.converter.parse(d / "c.mid"))
    assert len(fast) == len(slow) > 100
    a = sorted(zip(np.round(fast.onset, 3), fast.pitch))
    b = sorted(zip(np.round(slow.onset, 3), slow.pitch))
    assert a == b


def test_musicxml_has_beats_measures_and_values(chorale):
    s, d = chorale
    n = read_score(d / "c.musicxml")
    assert len(n) == len(read_score(d / "c.mid"))
    assert n.part_names[:4] == ("Soprano", "Alto", "Tenor", "Bass")
    assert set(n.note_value) >= {"Quarter", "Eighth"}
    assert n.measure.max() >= 9
    # seconds follow the beats at the score tempo
    np.testing.assert_allclose(n.onset, n.onset_beat * 60 / n.tempo_bpm)


def test_kern_and_abc(tmp_path):
    krn = tmp_path / "t.krn"
    krn.write_text("**kern\n*M4/4\n=1\n4c\n4e\n4g\n4cc\n*-\n")
    n = read_score(krn)
    assert list(n.pitch) == [60, 64, 67, 72]
    abc = tmp_path / "t.abc"
    abc.write_text("X:1\nT:t\nM:4/4\nL:1/4\nK:C\nC E G c|\n")
    assert list(read_score(abc).pitch) == [60, 64, 67, 72]


def test_melody_keeps_top_voice(chorale):
    _, d = chorale
    full = read_score(d / "c.mid")
    mel = read_score(d / "c.mid", melody=True)
    assert len(mel) < len(full)
    assert np.all(np.diff(mel.onset) > 0)
    assert np.all(mel.offset[:-1] <= mel.onset[1:] + 1e-9)
    first = full.pitch[np.isclose(full.onset, full.onset.min())].max()
    assert mel.pitch[0] == first


def test_piano_roll():
    need(MTD1066)
    n = read_score(MTD1066)
    roll = n.piano_roll(feature_rate=10)
    assert roll.shape[0] == 128 and roll[67, 5] == 1 and roll[67].sum() > 0 and roll[60].sum() == 0


def test_errors(tmp_path):
    with pytest.raises(ScoreError, match="x.mid: no such file"):
        read_score(tmp_path / "x.mid")
    (tmp_path / "t.pdf").write_text("x")
    with pytest.raises(ScoreError, match="t.pdf: unsupported score format .pdf"):
        read_score(tmp_path / "t.pdf")
    (tmp_path / "bad.mid").write_bytes(b"MThd garbage")
    with pytest.raises(ScoreError, match="bad.mid: cannot parse MIDI"):
        read_score(tmp_path / "bad.mid")
    (tmp_path / "empty.csv").write_text("Start;Duration;Pitch\n")
    with pytest.raises(ScoreError, match="empty.csv: no notes"):
        read_score(tmp_path / "empty.csv")
    (tmp_path / "other.csv").write_text("a;b\n1;2\n")
    with pytest.raises(ScoreError, match="expected columns Start;Duration;Pitch"):
        read_score(tmp_path / "other.csv")
    (tmp_path / "rest.krn").write_text("**kern\n4r\n*-\n")
    with pytest.raises(ScoreError, match="rest.krn: no notes"):
        read_score(tmp_path / "rest.krn")
    (tmp_path / "bad.musicxml").write_text("<score-partwise><oops")
    with pytest.raises(ScoreError, match="bad.musicxml: cannot parse score"):
        read_score(tmp_path / "bad.musicxml")


def test_empty_midi(tmp_path):
    import pretty_midi

    pm = pretty_midi.PrettyMIDI()
    pm.instruments.append(pretty_midi.Instrument(0))
    pm.write(str(tmp_path / "e.mid"))
    with pytest.raises(ScoreError, match="e.mid: no notes"):
        read_score(tmp_path / "e.mid")
