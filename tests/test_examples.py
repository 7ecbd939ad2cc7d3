"""The examples/ scripts run as a researcher would start them, and the public API."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from conftest import REAL, ROOT, need

EX = ROOT / "examples"


def run(script: str, *args) -> str:
    p = subprocess.run([sys.executable, str(EX / script), *map(str, args)], capture_output=True, text=True,
                       cwd=ROOT)
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_features_to_npz(tmp_path):
    out = tmp_path / "chroma.npz"
    text = run("features_to_npz.py", need(REAL), out)
    assert "5 recordings at 25 frames per second" in text
    with np.load(out) as z:
        assert float(z["feature_rate"]) == 25.0
        assert z["musopen/Beethoven_Op067-01_DavidHighSchool.wav"].shape[0] == 12


def test_theme_retrieval():
    text = run("theme_retrieval.py", need(REAL / "mtd_themes"), REAL)
    firsts = [ln for ln in text.splitlines() if ln.split()[1] == "1"]
    assert len(firsts) == 3 and all("Beethoven" in ln for ln in firsts)
    assert any("MTD0815" in ln[:30] or "Op002No2" in ln[:30] for ln in firsts)


def test_align_and_plot(tmp_path):
    R = need(REAL / "chopin_op10-3")
    text = run("align_and_plot.py", R / "Chopin_Op010-03-Measures1-8_MIDI.mid",
               R / "Chopin_Op010-03-Measures1-8_Varsi.wav", tmp_path)
    bars = [float(x) for x in text.split("bar lines (s):")[1].split()]
    assert len(bars) >= 8 and np.all(np.diff(bars) > 0) and "warning" not in text
    assert (tmp_path / "labels.csv").read_text().startswith("start_sample,end_sample")
    assert (tmp_path / "alignment.png").stat().st_size > 10000


def test_deep_features():
    text = run("deep_features.py", need(REAL / "musopen" / "Beethoven_Op067-01_DavidHighSchool.wav"))
    assert "deep chroma (12, 161) and pitch salience (72, 161) at 25 Hz" in text


def test_train_small(tmp_path):
    from chromatool.render import can_render

    if not can_render():
        pytest.skip("FluidSynth is not installed")
    text = run("train_small.py", tmp_path, "--steps", 2)
    assert "2 steps" in text and (tmp_path / "tiny.pt").is_file()


def test_import_is_cheap_and_help_lists_the_api():
    code = ("import sys, chromatool as ct; "
            "print('heavy:', [m for m in ('torch', 'numba', 'librosa', 'typer') if m in sys.modules]); help(ct)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert "heavy: []" in p.stdout  # before help() looks the names up
    for name in ("load_audio", "read_score", "hcqt", "subsequence_dtw", "retrieve", "align", "train"):
        assert name in p.stdout


def test_every_public_name_resolves_and_has_an_example():
    import chromatool as ct

    for name in ct.__all__:
        obj = getattr(ct, name)
        if callable(obj) and not isinstance(obj, type(ct)) and not name.endswith("Error"):
            assert ">>>" in (obj.__doc__ or "") or name in ("NoteList", "Alignment"), name
    with pytest.raises(AttributeError):
        ct.no_such_thing  # noqa: B018
