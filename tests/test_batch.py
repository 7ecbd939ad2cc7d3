"""Batch jobs as shell pipelines run them: resume, collisions, file lists, permissions, pipes."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from chromatool.cli import app, hoist_global_flags

from conftest import ROOT, SR, tone
from test_deep import _train, mini  # noqa: F401  (fixture)

runner = CliRunner()
CHROMATOOL = [sys.executable, "-m", "chromatool"]


def invoke(*args, **kw):
    return runner.invoke(app, [str(a) for a in args], **kw)


@pytest.fixture
def folder(tmp_path) -> Path:
    d = tmp_path / "in"
    for i, sub in enumerate(("a", "b", "b/c")):
        (d / sub).mkdir(parents=True, exist_ok=True)
        sf.write(d / sub / f"x{i}.wav", tone(60 + i, seconds=1.0), SR)
    return d


def test_interrupted_batch_finishes_with_skip_existing(folder, tmp_path):
    out = tmp_path / "out"
    r = invoke("features", folder, "-o", out, "--tuning", "0")
    assert r.exit_code == 0, r.output
    written = sorted(p.relative_to(out) for p in out.rglob("*.npy"))
    assert [str(p) for p in written] == ["a/x0.npy", "b/c/x2.npy", "b/x1.npy"]
    (out / "b" / "x1.npy").unlink()  # as if interrupted before this one
    (out / "b" / "x1.json").unlink()
    r = invoke("features", folder, "-o", out, "--tuning", "0")
    assert r.exit_code == 1 and "exists" in r.output and "--skip-existing" in r.output
    assert not (out / "b" / "x1.npy").exists()
    before = (out / "a" / "x0.npy").stat().st_mtime_ns
    r = invoke("features", folder, "-o", out, "--tuning", "0", "--skip-existing")
    assert r.exit_code == 0, r.output
    assert "1 of 3 written, 2 skipped" in r.output
    assert (out / "b" / "x1.npy").exists() and (out / "a" / "x0.npy").stat().st_mtime_ns == before
    r = invoke("features", folder, "-o", out, "--skip-existing", "--overwrite")
    assert r.exit_code == 1 and "exclude each other" in r.output


def test_same_named_inputs_get_separate_outputs_and_collisions_stop_early(tmp_path):
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        sf.write(tmp_path / d / "x.wav", tone(60, seconds=1.0), SR)
    out = tmp_path / "out"
    r = invoke("features", tmp_path / "a" / "x.wav", tmp_path / "b" / "x.wav", "-o", out, "--tuning", "0")
    assert r.exit_code == 0, r.output
    assert (out / "a" / "x.npy").exists() and (out / "b" / "x.npy").exists()
    sf.write(tmp_path / "a" / "x.flac", tone(62, seconds=1.0), SR)
    r = invoke("features", tmp_path / "a", "-o", tmp_path / "out2")
    assert r.exit_code == 1 and "would both be written to" in r.output
    assert not (tmp_path / "out2").exists()  # nothing was computed


def test_files_from_stdin_and_nul_separated_lists(folder, tmp_path):
    files = sorted(folder.rglob("*.wav"))
    r = invoke("features", "--files-from", "-", "-o", tmp_path / "o1", "--tuning", "0",
               input="\n".join(map(str, files)) + "\n")
    assert r.exit_code == 0, r.output
    assert len(list((tmp_path / "o1").rglob("*.npy"))) == 3
    lst = tmp_path / "list"
    lst.write_bytes(b"\0".join(str(f).encode() for f in files[:2]) + b"\0")
    r = invoke("features", "--files-from", lst, "--null", "-o", tmp_path / "o2", "--tuning", "0")
    assert r.exit_code == 0 and len(list((tmp_path / "o2").rglob("*.npy"))) == 2
    r = invoke("features", "-", "-o", tmp_path / "o3")
    assert r.exit_code != 0 and "--files-from -" in r.output


def test_unwritable_output_is_a_failed_line_and_the_batch_goes_on(folder, tmp_path, monkeypatch):
    import tempfile

    out = tmp_path / "out"
    real = tempfile.mkstemp

    def denied(*a, dir=None, **kw):  # noqa: A002 - as mkstemp names it
        if dir is not None and Path(dir).name == "b":
            raise PermissionError(13, "Permission denied")
        return real(*a, dir=dir, **kw)

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    r = invoke("features", folder, "-o", out, "--tuning", "0")
    assert r.exit_code == 1
    assert "failed:" in r.output and "Permission denied" in r.output and "Traceback" not in r.output
    assert (out / "a" / "x0.npy").exists() and (out / "b" / "c" / "x2.npy").exists()
    assert "2 of 3 written, 1 failed" in r.output


def test_read_only_output_folder_for_real(folder, tmp_path):
    import shutil

    out = tmp_path / "out"
    (out / "b").mkdir(parents=True)
    (out / "b").chmod(0o555)
    cmd = CHROMATOOL + ["features", str(folder), "-o", str(out), "--tuning", "0"]
    if os.geteuid() == 0:  # root writes anywhere: drop the capability that lets it
        if not shutil.which("setpriv"):
            pytest.skip("root without setpriv")
        caps = "-dac_override,-dac_read_search"
        cmd = ["setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}"] + cmd
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 1 and "failed:" in p.stderr and "Permission denied" in p.stderr, p.stderr
    assert "Traceback" not in p.stderr and (out / "a" / "x0.npy").exists()
    assert "1 of 3 written, 2 failed" in p.stderr  # b/x1 and b/c/x2 (a folder it cannot create)


def test_outputs_get_the_umask_mode(tmp_path):
    sf.write(tmp_path / "x.wav", tone(60, seconds=1.0), SR)
    old = os.umask(0o022)
    try:
        r = invoke("features", tmp_path / "x.wav", "-o", tmp_path / "x.npy", "--tuning", "0")
    finally:
        os.umask(old)
    assert r.exit_code == 0, r.output
    for p in (tmp_path / "x.npy", tmp_path / "x.json"):
        assert stat.S_IMODE(p.stat().st_mode) == 0o644


def test_outputs_that_cannot_be_right_are_refused(tmp_path):
    wav = tmp_path / "x.wav"
    sf.write(wav, tone(60, seconds=1.0), SR)
    r = invoke("features", wav, "-o", "-")
    assert r.exit_code == 1 and "-o -" in r.output
    r = invoke("features", wav, "-o", tmp_path / "x.npy", "--format", "npz")
    assert r.exit_code == 1 and "does not end in .npz" in r.output
    assert not list(tmp_path.glob("x.np*"))
    score = tmp_path / "s.csv"
    score.write_text("Start;Duration;Pitch\n0;1;60\n")
    r = invoke("align", score, wav, "-o", wav, "--overwrite", "--synthesis", "notes")
    assert r.exit_code == 1 and "would replace an input" in r.output
    assert sf.info(str(wav)).frames == SR  # the recording is intact
    r = invoke("extract", wav, "--output", "pitch")
    assert r.exit_code != 0 and "use --kind pitch" in r.output


def test_dataset_and_train_do_not_replace_what_exists(mini, tmp_path):  # noqa: F811
    d = tmp_path / "data"
    d.mkdir()
    (d / "ctc.csv").write_text("audio,start,end,theme\n")
    r = invoke("dataset", d, "--composers", "bach", "--pieces", "1")
    assert r.exit_code == 1 and "not empty" in r.output and "--overwrite" in r.output
    out = _train(tmp_path, mini[0], "ctc", "--model-setting", "channels=4,4", "--model-setting", "distribute_channels=2")
    r = invoke("train", "--loss", "ctc", "--data", mini[0], "-o", out, "--max-steps", 3, "--batch-size", 2,
               "--valid-fraction", 0.34, "--cache", tmp_path / "cache", "--seed", 1,
               "--model-setting", "channels=4,4", "--model-setting", "distribute_channels=2")
    assert r.exit_code == 1 and "exists" in r.output and "--resume" in r.output
    r = invoke("train", "--loss", "ctc", "--data", mini[0], "-o", out, "--max-steps", 4, "--batch-size", 2,
               "--valid-fraction", 0.34, "--cache", tmp_path / "cache", "--seed", 2, "--resume",
               "--model-setting", "channels=4,4", "--model-setting", "distribute_channels=2")
    assert r.exit_code == 1 and "seed (1 → 2)" in r.output


def test_retrieve_lists_recordings_too_short_and_counts_queries(tmp_path):
    q = tmp_path / "q.csv"
    q.write_text("Start;Duration;Pitch\n" + "".join(f"{i * 0.5};0.5;{60 + i % 5}\n" for i in range(20)))
    sf.write(tmp_path / "short.wav", tone(60, seconds=1.0), SR)
    sf.write(tmp_path / "long.wav", np.concatenate([tone(60 + i % 5, seconds=0.5) for i in range(24)]), SR)
    r = invoke("retrieve", q, tmp_path, "--format", "tsv", "--cache", tmp_path / "cache")
    assert r.exit_code == 0, r.output
    assert "unmatched:" in r.output and "short.wav" in r.output and "1 queries" in r.output
    r = invoke("retrieve", q, "--files-from", "-", "--format", "tsv", "--cache", tmp_path / "cache",
               input=str(tmp_path / "long.wav") + "\n")
    assert r.exit_code == 0 and "1 documents" in r.output and "long.wav" in r.output


def test_closed_stdout_ends_quietly(tmp_path):
    q = tmp_path / "q.csv"
    q.write_text("Start;Duration;Pitch\n0;0.5;60\n0.5;0.5;64\n1;0.5;67\n")
    for i in range(3):
        sf.write(tmp_path / f"d{i}.wav", np.concatenate([tone(60 + i, seconds=0.5), tone(64, seconds=1)]), SR)
    cmd = " ".join(CHROMATOOL) + f" retrieve {q} {q} {q} {tmp_path} --format jsonl --cache {tmp_path / 'c'}"
    p = subprocess.run(["bash", "-c", f"set -o pipefail; {cmd} | head -c 10 >/dev/null"],
                       capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr and "Error" not in p.stderr


def test_global_flags_after_the_subcommand():
    assert hoist_global_flags(["features", "x.wav", "-o", "y", "--quiet"]) == ["--quiet", "features", "x.wav", "-o", "y"]
    assert hoist_global_flags(["--debug", "align", "a", "b"]) == ["--debug", "align", "a", "b"]
    assert hoist_global_flags(["features", "--", "--quiet"]) == ["features", "--", "--quiet"]
    p = subprocess.run(CHROMATOOL + ["features", "missing.wav", "-o", "x.npy", "--debug"],
                       capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 1 and "Traceback" in p.stderr  # --debug took effect


def test_features_on_the_cpu_start_without_torch(tmp_path):
    from chromatool.device import _nvidia_present

    if _nvidia_present():  # --device auto then asks torch for the GPU
        pytest.skip("an NVIDIA GPU is present")
    code = ("import sys; from chromatool.cli import app\n"
            "try:\n    app(['features', 'missing.wav', '-o', 'x.npy'], prog_name='chromatool')\n"
            "except SystemExit:\n    pass\n"
            "print('torch' in sys.modules)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert p.stdout.strip().splitlines()[-1] == "False", p.stdout + p.stderr


@pytest.mark.parametrize("cmd", ["features", "retrieve", "align", "extract", "dataset", "train"])
def test_help_ends_with_examples_and_flags_read_as_flags(cmd):
    r = invoke(cmd, "--help", env={"COLUMNS": "200"})
    assert r.exit_code == 0
    assert "Examples" in r.output and r.output.count(f"chromatool {cmd}") >= 2
    flag_lines = [ln for ln in r.output.splitlines() if "--overwrite" in ln or "--skip-existing" in ln or "--resume" in ln]
    assert all("<bool>" not in ln for ln in flag_lines)


def test_per_file_failures_show_tracebacks_only_with_debug(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    sf.write(d / "good.wav", tone(60, seconds=1.0), SR)
    (d / "bad.wav").write_bytes(b"RIFF not really audio")
    r = invoke("features", d, "-o", tmp_path / "o", "--tuning", "0")
    assert r.exit_code == 1 and "failed:" in r.output and "bad.wav" in r.output
    assert r.exception is None or isinstance(r.exception, SystemExit)
    for jobs in ("1", "2"):
        p = subprocess.run(CHROMATOOL + ["--debug", "features", str(d), "-o", str(tmp_path / f"d{jobs}"),
                                         "--tuning", "0", "--jobs", jobs], capture_output=True, text=True, cwd=ROOT)
        assert p.returncode != 0 and "Traceback" in p.stderr and "bad.wav" in p.stderr


def test_interrupted_dataset_finishes_with_skip_existing(tmp_path):
    from chromatool.render import can_render

    if not can_render():
        pytest.skip("FluidSynth is not installed")
    d = tmp_path / "data"
    args = ["dataset", d, "--composers", "bach", "--pieces", "2", "--excerpts", "1", "--seed", "3"]
    r = invoke(*args)
    assert r.exit_code == 0, r.output
    first = (d / "bce.csv").read_text()
    rows = sorted((d / "rows").glob("*.json"))
    assert len(rows) == 2
    rows[1].unlink()  # as if interrupted while rendering the second piece
    kept_audio = (d / "audio" / (rows[0].stem + ".flac")).stat().st_mtime_ns
    r = invoke(*args, "--skip-existing")
    assert r.exit_code == 0, r.output
    assert (d / "bce.csv").read_text() == first  # the same manifest as an uninterrupted run
    assert (d / "audio" / (rows[0].stem + ".flac")).stat().st_mtime_ns == kept_audio
    r = invoke(*args, "--overwrite")
    assert r.exit_code == 0 and (d / "bce.csv").read_text() == first


def test_workers_start_after_librosas_numba_caches_are_written():
    """Worker processes compiling librosa's guvectorize functions at the same moment can write a
    mixed pair of cache files that crashes the next process (numba issue 10128; a fresh CI
    environment segfaulted in librosa.yin): the parent imports them before it forks."""
    code = ("import sys; from chromatool.batch import map_items, LIBROSA_NUMBA_MODULES; "
            "assert not any(m in sys.modules for m in LIBROSA_NUMBA_MODULES); "
            "assert map_items(abs, [1, -2], jobs=2) == [1, 2]; "
            "print(all(m in sys.modules for m in LIBROSA_NUMBA_MODULES))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "True"
