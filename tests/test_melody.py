"""Melody chroma (the top line of the multi-pitch salience) and the fused retrieval features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from chromatool.cli import app
from chromatool.errors import ParameterError
from chromatool.melody import melody_chroma

THEMES = ("data_EDM-corr_CSV_MTD1066_Beethoven_Op067-01.csv", "data_EDM-corr_CSV_MTD0815_Beethoven_Op002No2-01.csv")


def test_melody_chroma_takes_the_highest_note_and_holds_it():
    S = np.zeros((72, 20), np.float32)
    S[[12, 28, 31], 2] = [0.9, 0.5, 0.4]  # C2, E3, G3: G3 on top (0.4 >= 0.35)
    S[[12, 40], 10] = [0.9, 0.3]  # E4 under the threshold: C2 is the top line
    C = melody_chroma(S, feature_rate=25.0, hold_seconds=0.2)  # 5 frames
    assert C[:, 2].argmax() == 7 and C[:, 10].argmax() == 0
    assert np.allclose(C[:, 0:5].sum(0), 1) and C[:, 5:8].sum() == 0  # held 2 frames either side
    assert np.allclose(np.linalg.norm(C[:, C.any(0)], axis=0), 1)
    assert melody_chroma(S, hold_seconds=0.0)[:, 3].sum() == 0
    with pytest.raises(ParameterError, match="salience"):
        melody_chroma(S[:70])
    with pytest.raises(ParameterError, match="hold_seconds"):
        melody_chroma(S, hold_seconds=-1)


def test_fused_costs_are_the_weighted_costs_of_its_parts(real, tmp_path):
    """--features fused: each document's cost is the weighted sum of the costs of the two deep
    chromas and the melody chroma (no transposition; computed from one HCQT they give the
    features computed apart), and it finds the Musopen recordings of the real themes."""
    pytest.importorskip("torch")
    from chromatool.retrieval import fused_parts, retrieve

    themes = [real / "mtd_themes" / t for t in THEMES]
    parts = fused_parts()
    assert [k for k, _, _ in parts] == ["deep", "deep", "melody"] and sum(w for *_, w in parts) == pytest.approx(1)
    cost = {}
    for kind, model, _ in parts + [("fused", None, 0)]:  # fused in a cache of its own: one HCQT for all
        res = retrieve(themes, [real / "musopen"], features=kind, model=model, top=2, cache_root=str(tmp_path / kind))
        cost[kind, model] = {(Path(h.query).name, Path(h.doc).name): h.cost for h in res.hits}
    fused = cost["fused", None]
    assert all(set(c) == set(fused) for c in cost.values())
    for key, c in fused.items():
        assert c == pytest.approx(sum(w * cost[k, m][key] for k, m, w in parts), abs=1e-5)
    assert [(k, w) for k, _, w in fused_parts("my.pt")] == [("deep", pytest.approx(0.8)), ("melody", 0.2)]
    best = {q: min((c, d) for (qq, d), c in fused.items() if qq == q)[1] for q, _ in fused}
    assert best[THEMES[0]] == "Beethoven_Op067-01_DavidHighSchool.wav"
    assert best[THEMES[1]] == "Beethoven_Op002-2-01_Pitman.wav"
    again = retrieve(themes, [real / "musopen"], features="fused", top=2, cache_root=str(tmp_path / "fused"))
    assert again.cache_hits == 2 and again.cache_misses == 0  # all three features cached per document


def test_fused_and_melody_name_the_model_they_need(real, tmp_path):
    pytest.importorskip("torch")
    r = CliRunner().invoke(app, ["retrieve", str(real / "mtd_themes" / THEMES[0]), str(real / "musopen"),
                                 "--features", "melody", "--model", "ctc-chroma", "--cache", str(tmp_path)])
    assert r.exit_code == 1 and "needs a multipitch model" in r.output
    r = CliRunner().invoke(app, ["retrieve", str(real / "mtd_themes" / THEMES[0]), str(real / "musopen"),
                                 "--features", "fused", "--model", "multipitch", "--cache", str(tmp_path)])
    assert r.exit_code == 1 and "needs a chroma model" in r.output
