from __future__ import annotations

import inspect
import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from chromatool import defaults as D
from chromatool.cli import app, evaluate_pitch_cmd, features_cmd, train_cmd
from chromatool.io import load_array

from conftest import REAL, SR, need, tone

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_help_lists_working_commands():
    r = invoke("--help")
    assert r.exit_code == 0
    assert "features" in r.output


def test_help_reflows_docstrings_and_shows_placeholders():
    r = runner.invoke(app, ["align", "--help"], env={"COLUMNS": "200"})
    assert "chroma and chroma-onset features of both sides" in r.output  # one line, not the docstring's breaks
    r = runner.invoke(app, ["train", "--help"], env={"COLUMNS": "200"})
    assert "OUTPUT.last.pt" in r.output


def test_version():
    r = invoke("--version")
    assert r.exit_code == 0 and r.output.startswith("chromatool ")


def test_cli_defaults_are_the_librarys():
    params = inspect.signature(features_cmd).parameters
    assert params["feature_rate"].default == D.FEATURE_RATE
    assert params["kind"].default == D.DEFAULT_FEATURE_KIND
    assert inspect.signature(evaluate_pitch_cmd).parameters["threshold"].default == [D.PITCH_THRESHOLD]
    from chromatool.training import TrainConfig

    train = inspect.signature(train_cmd).parameters
    for option, field in [("epochs", "epochs"), ("lr", "lr"), ("batch_size", "batch_size"), ("crop", "crop_seconds"),
                          ("patience", "patience"), ("max_transpose", "max_transpose"), ("seed", "seed")]:
        assert train[option].default == getattr(TrainConfig(), field), option


@pytest.fixture
def wav(tmp_path):
    p = tmp_path / "in" / "a.wav"
    p.parent.mkdir()
    sf.write(p, tone([60, 64, 67], seconds=2, harmonics=4), SR)
    return p


def test_features_single_file(tmp_path, wav):
    out = tmp_path / "c.npy"
    r = invoke("features", wav, "-o", out, "--kind", "chroma", "--device", "cpu")
    assert r.exit_code == 0, r.output
    data = np.load(out)
    assert data.shape == (12, 1 + 2 * SR // D.hop_length())
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["feature_rate"] == D.FEATURE_RATE and meta["kind"] == "chroma"
    # refuses to overwrite, then does with --overwrite
    r = invoke("features", wav, "-o", out)
    assert r.exit_code == 1 and "exists (--overwrite replaces it" in r.output
    assert invoke("features", wav, "-o", out, "--overwrite").exit_code == 0


def test_features_npz_and_hcqt(tmp_path, wav):
    out = tmp_path / "h.npz"
    r = invoke("features", wav, "-o", out, "--kind", "hcqt", "--format", "npz", "--feature-rate", "50")
    assert r.exit_code == 0, r.output
    z = np.load(out)
    assert z["data"].shape == (6, 216, 1 + 2 * SR // 441) and float(z["feature_rate"]) == 50
    data, meta = load_array(out)
    assert data.shape == z["data"].shape and meta["feature_rate"] == 50 and meta["kind"] == "hcqt"


def test_features_batch_with_a_failure(tmp_path, wav):
    (wav.parent / "sub").mkdir()
    sf.write(wav.parent / "sub" / "b.flac", tone(57), SR)
    (wav.parent / "broken.wav").write_text("garbage")
    out = tmp_path / "out"
    r = invoke("features", wav.parent, "-o", out, "--jobs", "2")
    assert r.exit_code == 1
    assert "broken.wav: cannot read audio" in r.output
    assert (out / "a.npy").exists() and (out / "sub" / "b.npy").exists()
    assert not (out / "broken.npy").exists()


def test_corrupt_file_one_line_exit_1(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00")
    p = subprocess.run([sys.executable, "-m", "chromatool", "features", str(bad), "-o",
                        str(tmp_path / "x.npy")], capture_output=True, text=True)
    assert p.returncode == 1
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "bad.wav" in lines[0] and "Traceback" not in p.stderr
    assert not (tmp_path / "x.npy").exists()


def test_bad_options(tmp_path, wav):
    r = invoke("features", wav, "-o", tmp_path / "x.npy", "--kind", "mfcc")
    assert r.exit_code != 0 and "mfcc" in r.output
    r = invoke("features", wav, "-o", tmp_path / "x.npy", "--feature-rate", "23")
    assert r.exit_code == 1 and "non-integer hop" in r.output
    r = invoke("features", tmp_path / "none", "-o", tmp_path / "x.npy")
    assert r.exit_code == 1 and "no such file or folder" in r.output


def test_cuda_without_gpu_is_an_error(tmp_path, wav):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    r = invoke("features", wav, "-o", tmp_path / "x.npy", "--device", "cuda")
    assert r.exit_code == 1 and "no CUDA GPU" in r.output


def test_real_clip_chroma(tmp_path):
    p = need(REAL / "musopen" / "Beethoven_Op067-01_DavidHighSchool.wav")
    r = invoke("features", p, "--kind", "chroma", "-o", tmp_path / "c.npy")
    assert r.exit_code == 0, r.output
    c = np.load(tmp_path / "c.npy")
    assert c.shape[0] == 12 and 155 <= c.shape[1] <= 165
    # the theme is G-G-G-Eb / F-F-F-D: the strongest pitch class runs through G, Eb, F, D
    best = c.argmax(0)
    runs = [int(b) for i, b in enumerate(best) if i >= 5 and np.all(best[i - 5:i] == b)]
    order = [b for i, b in enumerate(runs) if i == 0 or runs[i - 1] != b]
    assert order == [7, 3, 5, 2]


def test_library_errors_name_parameters_and_the_cli_names_flags(tmp_path):
    import chromatool as ct

    q = tmp_path / "q.csv"
    q.write_text("Start;Duration;Pitch\n0;1;60\n")
    sf.write(tmp_path / "d.wav", tone(60, seconds=2.0), SR)
    with pytest.raises(ct.ParameterError, match=r"^top must be at least 1, got 0$"):
        ct.retrieve([q], [tmp_path], top=0, cache_root=str(tmp_path / "c"))
    with pytest.raises(ct.ParameterError, match="model goes with features='deep'"):
        ct.retrieve([q], [tmp_path], features="chroma", model="x.pt")
    r = invoke("retrieve", q, tmp_path, "--features", "chroma", "--model", "x.pt", "--cache", tmp_path / "c")
    assert r.exit_code == 1 and "--model goes with --features deep" in r.output
    r = invoke("retrieve", tmp_path / "d.wav", tmp_path, "--cache", tmp_path / "c")  # an audio query
    assert r.exit_code == 1 and "audio queries go with --features embedding" in r.output
