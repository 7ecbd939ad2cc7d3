"""`chromatool extract FILE` decodes its file in a forked process while torch is imported: the
same array, the same sidecar and the same errors as computing it in process."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from conftest import SR, tone

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forks only on Linux")


def test_checkpoint_features_are_read_without_torch():
    from chromatool.deep import load_model, resolve_model
    from chromatool.prefetch import checkpoint_features

    for kind in ("chroma", "pitch"):
        assert checkpoint_features(resolve_model(None, kind)) == load_model(output=kind).features
    code = ("import sys; from chromatool.prefetch import checkpoint_features; from chromatool.deep import resolve_model\n"
            "f = checkpoint_features(resolve_model(None, 'chroma'))\n"
            "print(f['feature_rate'], 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["25.0", "False"]


def test_a_checkpoint_that_names_other_code_is_not_run(tmp_path):
    import pickle
    import zipfile

    from chromatool.prefetch import checkpoint_features

    class Evil:
        def __reduce__(self):
            return (print, ("ran",))

    path = tmp_path / "evil.pt"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("evil/data.pkl", pickle.dumps({"features": {"sr": 22050}, "x": Evil()}))
    assert checkpoint_features(path) is None  # refused, nothing printed
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("ok/data.pkl", pickle.dumps({"features": {"sr": 22050}}))
    assert checkpoint_features(path) == {"sr": 22050}


@linux
def test_the_forked_input_is_the_one_computed_in_process(tmp_path):
    wav = tmp_path / "a.wav"
    sf.write(wav, tone([57, 64, 69], seconds=6.0, harmonics=4), SR)
    code = ("import sys; from pathlib import Path\n"
            "from chromatool.prefetch import start_input, take_input, checkpoint_features\n"
            "from chromatool.deep import resolve_model\n"
            "src = Path(sys.argv[1])\n"
            "assert start_input(src, None, output='pitch', tuning='auto', device='cpu')\n"
            "import numpy as np, torch\n"
            "from chromatool.audio import load_audio\nfrom chromatool.deep import network_input\n"
            "feats = checkpoint_features(resolve_model(None, 'pitch'))\n"
            "H, cents = take_input(src, feats, output='pitch', tuning='auto')\n"
            "H0, cents0 = network_input(load_audio(src, sr=22050), feats, output='pitch', tuning='auto')\n"
            "print(H.shape == H0.shape, bool(np.array_equal(H, H0)), cents == cents0)")
    out = subprocess.run([sys.executable, "-c", code, str(wav)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "True", "True"]


@linux
def test_extract_of_one_file_writes_what_it_writes_without_the_fork(tmp_path):
    wav = tmp_path / "a.wav"
    sf.write(wav, tone([60, 64, 67], seconds=8.0, harmonics=3) * 0.5, SR)
    args = ["extract", str(wav), "-o"]
    p = subprocess.run([sys.executable, "-m", "chromatool", *args, str(tmp_path / "fork.npy")],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    # the same command in a process that imported torch first: no fork (both fresh processes,
    # so torch's thread settings are the same)
    code = "import sys, torch; from chromatool.cli import run; sys.argv = ['chromatool', *sys.argv[1:]]; run()"
    q = subprocess.run([sys.executable, "-c", code, *args, str(tmp_path / "plain.npy")], capture_output=True, text=True)
    assert q.returncode == 0, q.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "fork.npy"), np.load(tmp_path / "plain.npy"))
    a, b = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("fork", "plain"))
    assert a == b and a["params"]["tuning"] == b["params"]["tuning"]


@linux
def test_a_file_that_fails_in_the_forked_process_fails_as_in_process(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00")
    p = subprocess.run([sys.executable, "-m", "chromatool", "extract", str(bad), "-o", str(tmp_path / "x.npy")],
                       capture_output=True, text=True)
    assert p.returncode == 1 and "bad.wav" in p.stderr and "Traceback" not in p.stderr
    assert not (tmp_path / "x.npy").exists()
