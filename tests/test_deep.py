"""Models, training and extraction (issue 5)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from chromatool import defaults as D
from chromatool.cli import app
from chromatool.errors import ParameterError
from chromatool.io import load_array

from conftest import PEERS, REAL, ROOT, SR, need, tone

torch = pytest.importorskip("torch")
runner = CliRunner()
PEER = PEERS / "zalkow2020_ctc_chroma"


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


# ---------------------------------------------------------------------------------------------
# architecture


def test_ctc_chroma_reproduces_the_authors_outputs():
    """The paper's published weights in chromatool's ctc-chroma give the authors' posteriors."""
    from chromatool.models import CTCChroma, load_keras_weights, n_parameters

    weights = dict(np.load(need(PEER / "weights_v1_ctc_train123valid4.npz")))
    model = load_keras_weights(CTCChroma(), weights).eval()
    assert n_parameters(model) + D.N_BINS * D.N_CHROMA == 75_562  # + the fixed pooling
    for name in ("Beethoven_Op067-01_DavidHighSchool", "Beethoven_Op002-2-01_Pitman"):
        ref = np.load(PEER / f"{name}.npz")
        x = torch.from_numpy(ref["hcqt_norm"]).permute(2, 0, 1)[None].float()
        with torch.no_grad():
            probs = torch.softmax(model(x), -1)[0].T.numpy()
        np.testing.assert_allclose(probs, ref["probs_v1_ctc_train123valid4"], atol=1e-4)


def test_chroma_pooling_is_the_papers():
    from chromatool.models import chroma_pooling_matrix

    P = chroma_pooling_matrix()
    assert P.shape == (216, 12) and P.sum() == 216
    assert P[0, 0] == P[2, 0] == P[3, 1] == P[35, 11] == P[36, 0] == 1
    weights = PEER / "weights_v1_ctc_train123valid4.npz"
    if weights.exists():
        np.testing.assert_array_equal(P, np.load(weights)["chroma_pool/kernel"])


@pytest.mark.parametrize("arch,n_out", [("ctc-chroma", 13), ("multipitch", 72), ("pitchclass", 12)])
def test_models_keep_the_number_of_frames(arch, n_out):
    from chromatool.models import build_model

    model = build_model({"arch": arch}).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 6, 37, 216))
    assert out.shape == (2, 37, n_out)


def test_unknown_architecture_setting_is_an_error():
    from chromatool.errors import ModelError
    from chromatool.models import make_config

    with pytest.raises(ModelError, match="chanels"):
        make_config("ctc-chroma", chanels=[1])


# ---------------------------------------------------------------------------------------------
# targets and manifests


def test_ctc_target_of_a_theme(tmp_path):
    from chromatool.training import theme_target

    theme = tmp_path / "t.csv"
    theme.write_text("Start;Duration;Pitch\n0;0.5;60\n0.5;0.5;64\n1.0;0.5;67\n1.5;0.5;72\n2.0;1;71\n")
    assert theme_target(theme) == (0, 4, 7, 0, 11)
    assert theme_target(theme, transpose=2) == (2, 6, 9, 2, 1)


def test_mtd_theme_target(real):
    from chromatool.training import theme_target

    t = theme_target(real / "mtd_themes" / "data_EDM-corr_CSV_MTD1066_Beethoven_Op067-01.csv")
    assert t[:4] == (7, 7, 7, 3)  # G G G E-flat


def _mini_set(root: Path, n: int = 6) -> tuple[Path, Path]:
    """Additive renders of short random melodies with chords, their labels, theme excerpts."""
    from chromatool.labels import labels_csv
    from chromatool.render import synthesize
    from chromatool.score import _from_rows

    rng = np.random.default_rng(0)
    (root / "audio").mkdir(parents=True)
    ctc, bce = ["audio,start,end,theme,transpose,group"], ["audio,labels,group"]
    for k in range(n):
        rows, t = [], 0.0
        for i in range(16):
            d = float(rng.choice([0.25, 0.5]))
            p = int(rng.integers(60, 80))
            rows.append((t, t + d, p, 0, 0, 80, 0, 0, i // 4 + 1, "Quarter"))
            rows.append((t, t + d, p - 12 - int(rng.integers(3, 8)), 0, 0, 60, 1, 0, i // 4 + 1, "Quarter"))
            t += d
        notes = _from_rows(rows, source=f"mini{k}")
        sf.write(root / "audio" / f"m{k}.wav", synthesize(notes), SR)
        (root / f"m{k}.csv").write_text(labels_csv(notes))
        top = notes.select(notes.part == 0)
        (root / f"m{k}_theme.csv").write_text(
            "Start;Duration;Pitch\n" + "".join(f"{a};{b - a};{p}\n" for a, b, p in zip(top.onset, top.offset, top.pitch)))
        ctc.append(f"audio/m{k}.wav,0,{t:.3f},m{k}_theme.csv,0,w{k % 3}")
        bce.append(f"audio/m{k}.wav,m{k}.csv,w{k % 3}")
    (root / "ctc.csv").write_text("\n".join(ctc) + "\n")
    (root / "bce.csv").write_text("\n".join(bce) + "\n")
    return root / "ctc.csv", root / "bce.csv"


@pytest.fixture(scope="module")
def mini(tmp_path_factory) -> tuple[Path, Path]:
    return _mini_set(tmp_path_factory.mktemp("mini"))


@pytest.mark.parametrize("row,message", [
    ("audio/missing.wav,0,2,m0_theme.csv,0,g", r"ctc\.csv:2: audio .*missing\.wav does not exist"),
    ("audio/m0.wav,3,2,m0_theme.csv,0,g", r"ctc\.csv:2: excerpt end 2 s is not after start 3 s"),
    ("audio/m0.wav,0,2,empty_theme.csv,0,g", r"ctc\.csv:2: .*empty_theme\.csv: no notes"),
])
def test_bad_manifest_rows_name_the_row(mini, tmp_path, row, message):
    import shutil

    from chromatool.training import ManifestError, read_manifest

    shutil.copytree(mini[0].parent, tmp_path / "set")
    (tmp_path / "set" / "empty_theme.csv").write_text("Start;Duration;Pitch\n")
    bad = tmp_path / "set" / "ctc.csv"
    bad.write_text("audio,start,end,theme,transpose,group\n" + row + "\n")
    with pytest.raises(ManifestError, match=message):
        read_manifest(bad, "ctc")
    r = invoke("train", "--data", bad, "-o", tmp_path / "m.pt", "--cache", tmp_path / "cache")
    assert r.exit_code == 1 and "ctc.csv:2" in r.output


def test_transposition_shifts_hcqt_and_targets():
    from chromatool.training import shift_bins

    x = np.zeros((6, 216, 4), np.float32)
    x[:, 100] = 1
    up = shift_bins(x, 6)
    assert up[:, 106].all() and not up[:, 100].any()
    assert shift_bins(x, -6)[:, 94].all()


# ---------------------------------------------------------------------------------------------
# training, saving, loading, extracting


def _train(tmp_path, manifest, loss, *extra):
    out = tmp_path / f"{loss}.pt"
    r = invoke("train", "--loss", loss, "--data", manifest, "-o", out, "--max-steps", 3, "--batch-size", 2,
               "--valid-fraction", 0.34, "--cache", tmp_path / "cache", "--seed", 1, *extra)
    assert r.exit_code == 0, r.output
    return out


def test_tiny_ctc_model_trains_saves_reloads_extracts(mini, tmp_path):
    out = _train(tmp_path, mini[0], "ctc", "--model-setting", "channels=4,4", "--model-setting", "distribute_channels=2")
    ck = torch.load(out, weights_only=True)  # a plain dict
    assert ck["model"]["arch"] == "ctc-chroma" and ck["model"]["channels"] == [4, 4]
    assert ck["features"]["feature_rate"] == D.FEATURE_RATE and ck["training"]["steps"] == 3
    log = (tmp_path / "ctc.log.jsonl").read_text().splitlines()
    assert len(log) == 3 and '"valid_loss"' in log[0]
    wav = mini[0].parent / "audio" / "m0.wav"
    r = invoke("extract", wav, "-o", tmp_path / "c.npy", "--model", out)
    assert r.exit_code == 0, r.output
    c, meta = load_array(tmp_path / "c.npy")
    n = int(np.ceil(sf.info(str(wav)).duration * D.FEATURE_RATE))
    assert c.shape[0] == 12 and abs(c.shape[1] - n) <= 1 and meta["feature_rate"] == D.FEATURE_RATE
    np.testing.assert_allclose(np.linalg.norm(c, axis=0), 1.0, atol=1e-5)
    # --resume continues from the last checkpoint; a run whose budget is spent stays ended
    for _ in range(2):
        r = invoke("train", "--loss", "ctc", "--data", mini[0], "-o", out, "--max-steps", 4, "--batch-size", 2,
                   "--valid-fraction", 0.34, "--cache", tmp_path / "cache", "--seed", 1, "--resume",
                   "--model-setting", "channels=4,4", "--model-setting", "distribute_channels=2")
        assert r.exit_code == 0, r.output
        assert torch.load(out, weights_only=True)["training"]["steps"] == 4
        assert len((tmp_path / "ctc.log.jsonl").read_text().splitlines()) == 4


def test_salience_pretraining_then_ctc_from_init(mini, tmp_path):
    """bce on a ctc-chroma trains its 216-bin salience on note labels; --init starts ctc there."""
    from chromatool.score import read_score
    from chromatool.training import frame_targets

    (tmp_path / "c4.csv").write_text("Start;Duration;Pitch\n0;1;60\n")  # C4 for 1 s
    notes = read_score(tmp_path / "c4.csv")
    y = frame_targets(notes, 25, 0, "ctc-chroma", 0, D.FEATURE_RATE)
    assert y.shape == (25, 216) and y.sum(1).tolist() == [1.0] * 25
    assert y[0].argmax() == 3 * (60 - D.MIDI_MIN) + 1  # the centre bin of C4
    # from labels, only the top voice: the instrument with the highest mean pitch, one note at a time
    from chromatool.labels import read_labels

    (tmp_path / "l.csv").write_text(
        "start_time,end_time,instrument,note,start_beat,end_beat,measure,note_value\n"
        "0.0,1.0,cello,48,0,1,1,Quarter\n0.0,1.0,violin,67,0,1,1,Quarter\n0.0,1.0,violin,64,0,1,1,Quarter\n"
        "0.0,1.0,viola,72,0,1,1,Quarter\n1.0,2.0,viola,50,1,2,1,Quarter\n")
    labels = read_labels(tmp_path / "l.csv")
    assert labels.part_names == ("cello", "violin", "viola")
    y = frame_targets(labels, 50, 0, "ctc-chroma", 0, D.FEATURE_RATE)
    assert np.flatnonzero(y[10]).tolist() == [3 * (67 - D.MIDI_MIN) + 1] and not y[30].any()
    assert frame_targets(labels, 50, 0, "multipitch", 0, D.FEATURE_RATE)[10].sum() == 4
    assert frame_targets(labels, 50, 0, "ctc-chroma", 0, D.FEATURE_RATE, voices="all")[10].sum() == 4

    small = ("--model-setting", "channels=4,4", "--model-setting", "distribute_channels=2")
    pre = _train(tmp_path, mini[1], "bce", "--arch", "ctc-chroma", *small)
    ck = torch.load(pre, weights_only=True)
    assert ck["model"]["arch"] == "ctc-chroma" and ck["training"]["loss"] == "bce"
    out = _train(tmp_path, mini[0], "ctc", "--init", pre, *small)
    assert torch.load(out, weights_only=True)["training"]["config"]["init"] == str(pre)
    r = invoke("train", "--loss", "ctc", "--data", mini[0], "-o", tmp_path / "x.pt", "--init", pre,
               "--cache", tmp_path / "cache", "--max-steps", 1)
    assert r.exit_code == 1 and "different model" in r.output and "channels=4,4" in r.output


def test_ctc_path_pretraining_then_ctc_from_init(mini, tmp_path):
    """ce: the 13 CTC classes frame-wise along a path of the top voice's onsets, then ctc."""
    from chromatool.labels import read_labels
    from chromatool.training import BLANK, ctc_path

    (tmp_path / "l.csv").write_text(
        "start_time,end_time,instrument,note,start_beat,end_beat,measure,note_value\n"
        "0.0,1.0,violin,67,0,1,1,Quarter\n0.0,1.0,cello,48,0,1,1,Quarter\n"
        "1.0,1.08,violin,67,1,2,1,Quarter\n1.08,1.5,violin,64,1,2,1,Quarter\n")
    p = ctc_path(read_labels(tmp_path / "l.csv"), 50, 0, 0, D.FEATURE_RATE, onset_frames=3)
    assert p[:3].tolist() == [7, 7, 7] and (p[3:25] == BLANK).all()  # G at the onset, then ε
    assert p[25:29].tolist() == [7, BLANK, 4, 4]  # a 2-frame G ends with ε: the two Gs stay apart
    collapsed = [c for i, c in enumerate(p) if c != BLANK and (i == 0 or p[i - 1] != c)]
    assert collapsed == [7, 7, 4]  # the top voice's label sequence, the cello not in it
    assert ctc_path(read_labels(tmp_path / "l.csv"), 10, 25, 2, D.FEATURE_RATE)[:4].tolist() == [9, BLANK, 6, 6]

    small = ("--model-setting", "channels=4,4", "--model-setting", "distribute_channels=2")
    pre = _train(tmp_path, mini[1], "ce", *small)
    ck = torch.load(pre, weights_only=True)
    assert ck["model"]["arch"] == "ctc-chroma" and ck["training"]["loss"] == "ce"
    assert np.isfinite(ck["training"]["best_valid_loss"])
    out = _train(tmp_path, mini[0], "ctc", "--init", pre, *small)
    assert torch.load(out, weights_only=True)["training"]["steps"] == 3
    r = invoke("train", "--loss", "ce", "--arch", "multipitch", "--data", mini[1], "-o", tmp_path / "x.pt",
               "--cache", tmp_path / "cache", "--max-steps", 1)
    assert r.exit_code == 1 and "ce cannot train a multipitch" in r.output


def test_training_is_reproducible_with_a_seed(mini, tmp_path):
    a = _train(tmp_path / "a", mini[1], "bce")
    b = _train(tmp_path / "b", mini[1], "bce")
    sa, sb = (torch.load(p, weights_only=True)["state_dict"] for p in (a, b))
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_tiny_multipitch_model_and_pitch_evaluation(mini, tmp_path):
    out = _train(tmp_path, mini[1], "bce", "--arch", "multipitch")
    wav = mini[1].parent / "audio" / "m1.wav"
    r = invoke("extract", wav, "-o", tmp_path / "p.npz", "--model", out, "--kind", "pitch", "--format", "npz")
    assert r.exit_code == 0, r.output
    p, meta = load_array(tmp_path / "p.npz")
    assert p.shape[0] == 72 and ((p >= 0) & (p <= 1)).all()
    r = invoke("evaluate", "pitch", mini[1], "--model", out, "--format", "json")
    assert r.exit_code == 0, r.output
    import json

    res = json.loads(r.output)
    assert len(res["files"]) == 6 and 0 <= res["pooled"]["f"] <= 1


def test_multipitch_without_input_normalisation_keeps_the_level(mini, tmp_path):
    from chromatool.deep import feature_config, model_input

    out = _train(tmp_path, mini[1], "bce", "--arch", "multipitch", "--input-norm", "none")
    ck = torch.load(out, weights_only=True)
    assert ck["features"]["normalize"] == "none" and ck["training"]["run"]["input_norm"] == "none"
    H = np.random.default_rng(0).random((6, 216, 40)).astype(np.float32)
    H[:, :, :20] *= 0.1  # quiet frames
    x_none, x_l2 = model_input(H, ck["features"]), model_input(H, feature_config())
    assert np.allclose(x_none.numpy(), H.transpose(0, 2, 1))  # the level is the network's to see
    assert np.allclose(x_l2.norm(dim=-1).numpy(), 1.0, atol=1e-5)  # l2: every frame alike
    wav = mini[1].parent / "audio" / "m1.wav"
    r = invoke("extract", wav, "-o", tmp_path / "p.npy", "--model", out, "--kind", "pitch")
    assert r.exit_code == 0, r.output
    r = invoke("train", "--loss", "bce", "--data", mini[1], "-o", tmp_path / "x.pt", "--input-norm", "max")
    assert r.exit_code != 0 and "--input-norm" in r.output


def test_both_views_widen_a_narrow_init_that_starts_where_it_was(mini, tmp_path):
    from chromatool.deep import load_model, model_input
    from chromatool.models import widen_inputs

    narrow = _train(tmp_path, mini[1], "bce", "--arch", "multipitch", "--input-norm", "none")
    wide = tmp_path / "wide.pt"
    r = invoke("train", "--loss", "bce", "--arch", "multipitch", "--input-norm", "both", "--init", narrow,
               "--data", mini[1], "-o", wide, "--max-steps", 2, "--batch-size", 2, "--valid-fraction", 0.34,
               "--cache", tmp_path / "cache", "--seed", 1)
    assert r.exit_code == 0, r.output
    a, b = load_model(narrow), load_model(wide)
    assert b.config["input_views"] == 2 and b.features["normalize"] == "both"
    H = np.random.default_rng(0).random((6, 216, 40)).astype(np.float32)
    x = model_input(H, b.features)
    assert x.shape[0] == 12 and np.allclose(x[:6].numpy(), H.transpose(0, 2, 1))
    assert np.allclose(x[6:].norm(dim=-1).numpy(), 1.0, atol=1e-5)
    # the widened copy of the narrow model (zero weights on the l2 view) computes what it did
    copy = type(b.model)(b.model.config)
    copy.load_state_dict(widen_inputs(a.model.state_dict(), copy))
    copy.eval()
    with torch.no_grad():
        assert torch.allclose(copy(x[None]), a.model(model_input(H, a.features)[None]), atol=1e-5)
    # the 2 steps moved the l2 view's weights off zero: it is learnt
    first = next(k for k, v in b.model.state_dict().items() if v.dim() == 4)
    assert b.model.state_dict()[first][:, 6:].abs().sum() > 0
    r = invoke("train", "--loss", "bce", "--arch", "multipitch", "--input-norm", "both", "--data", mini[1],
               "-o", tmp_path / "bad.pt", "--model-setting", "input_views=1", "--max-steps", 1)
    assert r.exit_code != 0 and "input_views" in r.output


def test_merged_multipitch_ensemble_is_the_mean_of_its_members_and_trains_on(mini, tmp_path):
    from chromatool.deep import load_model, model_input

    members = []
    for norm in ("none", "l2"):
        d = tmp_path / norm
        d.mkdir()
        members.append(_train(d, mini[1], "bce", "--arch", "multipitch", "--input-norm", norm))
    merged = tmp_path / "ens.pt"
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "merge_multipitch.py"), str(merged), *map(str, members)],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    a, b, m = (load_model(p) for p in (*members, merged))
    assert m.features["normalize"] == "both" and m.config["prefilter_channels"] == 2 * a.config["prefilter_channels"]
    H = np.random.default_rng(0).random((6, 216, 60)).astype(np.float32)
    with torch.no_grad():
        mean = (a.model(model_input(H, a.features)[None]) + b.model(model_input(H, b.features)[None])) / 2
        assert torch.allclose(m.model(model_input(H, m.features)[None]), mean, atol=1e-5)
    wav = mini[1].parent / "audio" / "m1.wav"
    r = invoke("extract", wav, "-o", tmp_path / "p.npy", "--model", merged, "--kind", "pitch")
    assert r.exit_code == 0, r.output
    c = m.config
    out = _train(tmp_path, mini[1], "bce", "--arch", "multipitch", "--input-norm", "both", "--init", merged,
                 *[arg for k in ("prefilter_channels", "binning_channels", "time_channels")
                   for arg in ("--model-setting", f"{k}={c[k]}")])
    assert load_model(out).config["time_channels"] == c["time_channels"]


def test_chunked_inference_equals_whole(mini):
    from chromatool.deep import LoadedModel, network_output
    from chromatool.models import build_model

    model = build_model({"arch": "multipitch"}).eval()
    from chromatool.deep import feature_config

    lm = LoadedModel(model, {"arch": "multipitch"}, feature_config(), {}, "test")
    H = np.random.default_rng(0).random((6, 216, 300)).astype(np.float32)
    whole = network_output(lm, H, chunk_frames=1000)
    chunked = network_output(lm, H, chunk_frames=70)
    np.testing.assert_allclose(chunked, whole, atol=1e-5)
    # a linear magnitude, log-scaled chunk by chunk against the file's maximum, gives the same
    from chromatool.features import log_compress

    M = np.random.default_rng(1).random((6, 216, 300)).astype(np.float32) ** 4
    np.testing.assert_allclose(network_output(lm, M, chunk_frames=70, magnitude_ref=float(M.max())),
                               network_output(lm, log_compress(M), chunk_frames=1000), atol=1e-5)


def test_distributed_training_with_two_cpu_processes(mini, tmp_path):
    """torchrun + DistributedDataParallel (gloo) on the CPU."""
    out = tmp_path / "ddp.pt"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517",
           "-m", "chromatool", "-q", "train", "--loss", "bce", "--data", str(mini[1]), "-o", str(out),
           "--max-steps", "2", "--batch-size", "1", "--valid-fraction", "0.34", "--cache", str(tmp_path / "cache"),
           "--threads", "1", "--device", "cpu"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    ck = torch.load(out, weights_only=True)
    assert ck["training"]["processes"] == 2 and ck["training"]["steps"] == 2


def test_missing_model_is_a_clear_error(tmp_path):
    wav = tmp_path / "a.wav"
    sf.write(wav, np.random.default_rng(0).standard_normal(SR).astype(np.float32) * 0.1, SR)
    r = invoke("extract", wav, "-o", tmp_path / "c.npy", "--model", tmp_path / "nope.pt")
    assert r.exit_code == 1 and "no such model file" in r.output


# ---------------------------------------------------------------------------------------------
# the packaged models

REFERENCE = ROOT / "tests" / "data" / "shipped_ctc_chroma_op67_10s.npy"


def _shipped() -> bool:
    from chromatool.deep import DEFAULT_MODELS, packaged_models

    return set(DEFAULT_MODELS.values()) <= set(packaged_models())


#: The packaged models are part of the package: their absence is a failure, not a skip.
def shipped(test):
    def run(*args, **kwargs):
        assert _shipped(), "chromatool/weights lacks the default models"
        return test(*args, **kwargs)

    import functools

    return functools.wraps(test)(run)
OP67 = REAL / "musopen" / "Beethoven_Op067-01_DavidHighSchool.wav"


def shipped_reference_output() -> np.ndarray:
    """The packaged ctc-chroma's posteriors (13, N) on the first 10 s of the Op. 67 recording
    (how tests/data/shipped_ctc_chroma_op67_10s.npy was made, after training)."""
    from chromatool.audio import load_audio
    from chromatool.deep import deep_features, load_model

    y = load_audio(need(OP67))[: 10 * D.SAMPLE_RATE]
    return deep_features(y, load_model(None, output="probs"), output="probs", precision="float32").data


@shipped
def test_bfloat16_inference_follows_float32():
    """bfloat16 autocast (the default on CPUs with bfloat16 units) gives the float32 posteriors
    within 0.02 and the same pitch-class decisions; the metadata says which ran."""
    from chromatool.audio import load_audio
    from chromatool.deep import deep_features, load_model

    y = load_audio(need(OP67))[: 10 * D.SAMPLE_RATE]
    lm = load_model(None, output="probs")
    f32, b16 = (deep_features(y, lm, output="probs", precision=p) for p in ("float32", "bfloat16"))
    assert f32.params["precision"] == "float32" and b16.params["precision"] == "bfloat16"
    assert np.abs(f32.data - b16.data).max() < 0.02
    assert np.mean(f32.data.argmax(0) == b16.data.argmax(0)) > 0.98
    with pytest.raises(ParameterError, match="precision"):
        deep_features(y, lm, output="probs", precision="float16")


@shipped
def test_packaged_models_are_installed():
    from chromatool.deep import DEFAULT_MODELS, load_model, packaged_models

    shipped = packaged_models()
    assert set(DEFAULT_MODELS.values()) | {m for _, m, _ in D.FUSED_PARTS} <= set(shipped)
    assert load_model("ctc-chroma-large").training["parameters"] > 70_000  # the paper's size
    for output in ("chroma", "pitch"):
        lm = load_model(None, output=output)
        assert lm.training["epochs"] >= 1 and lm.features["feature_rate"] == D.FEATURE_RATE
    assert (ROOT / "chromatool" / "weights" / "MODEL_CARD.md").exists()


@shipped
def test_shipped_model_output_equals_the_stored_reference():
    np.testing.assert_allclose(shipped_reference_output(), np.load(need(REFERENCE)), atol=1e-4)


@shipped
def test_extract_with_the_default_model(tmp_path):
    r = invoke("extract", need(OP67), "-o", tmp_path / "chroma.npy")
    assert r.exit_code == 0, r.output
    c, meta = load_array(tmp_path / "chroma.npy")
    assert c.shape == (12, 161) and meta["feature_rate"] == D.FEATURE_RATE
    from chromatool.device import resolve_precision

    assert meta["params"]["precision"] == resolve_precision("auto")  # the sidecar says what ran
    r = invoke("extract", OP67, "-o", tmp_path / "pitch.npy", "--kind", "pitch", "--precision", "float32")
    assert r.exit_code == 0, r.output
    p, meta = load_array(tmp_path / "pitch.npy")
    assert p.shape == (72, 161) and meta["params"]["precision"] == "float32"
    assert invoke("extract", OP67, "-o", tmp_path / "x.npy", "--precision", "half").exit_code == 2


@shipped
def test_deep_chroma_has_blank_between_onsets():
    """Like the paper's Fig. 3b: ε takes most frames; the chroma mass comes in short peaks at
    note onsets (on this real orchestra recording, far from the renders trained on, ~0.5)."""
    probs = shipped_reference_output()
    assert (probs.argmax(0) == 12).mean() > 0.5
    mass = 1 - probs[12]
    assert mass.max() > 5 * np.median(mass)


@shipped
def test_retrieve_with_deep_features_finds_the_musopen_recordings(real, tmp_path):
    from chromatool.retrieval import retrieve

    themes = [real / "mtd_themes" / "data_EDM-corr_CSV_MTD1066_Beethoven_Op067-01.csv",
              real / "mtd_themes" / "data_EDM-corr_CSV_MTD0815_Beethoven_Op002No2-01.csv"]
    res = retrieve(themes, [real / "musopen"], features="deep", top=1, cache_root=str(tmp_path))
    first = {Path(h.query).name: Path(h.doc).name for h in res.hits}
    assert first[themes[0].name] == "Beethoven_Op067-01_DavidHighSchool.wav"
    assert first[themes[1].name] == "Beethoven_Op002-2-01_Pitman.wav"


@shipped
def test_built_wheel_contains_the_weights(tmp_path):
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                        "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    (wheel,) = tmp_path.glob("chromatool-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for name in ("chromatool/weights/ctc-chroma.pt", "chromatool/weights/multipitch.pt",
                 "chromatool/weights/MODEL_CARD.md"):
        assert name in names


def test_without_packaged_model_extract_says_what_to_do(tmp_path, monkeypatch):
    import chromatool.deep as deep

    monkeypatch.setattr(deep, "packaged_models", lambda: {})
    wav = tmp_path / "a.wav"
    sf.write(wav, np.random.default_rng(0).standard_normal(SR).astype(np.float32) * 0.1, SR)
    r = invoke("extract", wav, "-o", tmp_path / "c.npy")
    assert r.exit_code == 1 and "no packaged ctc-chroma model" in r.output and "--model" in r.output


def test_retrieve_with_a_given_deep_model_caches_by_model(mini, tmp_path):
    from chromatool.retrieval import retrieve

    model = _train(tmp_path, mini[0], "ctc", "--model-setting", "channels=4,4",
                   "--model-setting", "distribute_channels=2")
    root = mini[0].parent
    themes, docs = [root / "m0_theme.csv", root / "m1_theme.csv"], [root / "audio"]
    a = retrieve(themes, docs, features="deep", model=str(model), top=3, cache_root=str(tmp_path / "c"))
    assert len(a.hits) == 6 and a.cache_misses == 6
    b = retrieve(themes, docs, features="deep", model=str(model), top=3, cache_root=str(tmp_path / "c"))
    assert b.cache_hits == 6 and [h.cost for h in b.hits] == [h.cost for h in a.hits]


def test_conv_gradients_by_forward_convolutions_match_autograd():
    """The CPU training conv (gradients as forward convolutions) equals torch's own gradients."""
    import torch

    from chromatool.models import Conv2d, _ConvGradByForward

    torch.manual_seed(0)
    conv = Conv2d(3, 2, (3, 5)).double()
    x = torch.randn(2, 3, 7, 11, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(_ConvGradByForward.apply, (x, conv.weight, conv.bias))
    out = conv(x)
    g = torch.randn_like(out)
    mine = torch.autograd.grad(out, (x, conv.weight, conv.bias), g)
    ref_out = torch.nn.functional.conv2d(x, conv.weight, conv.bias)
    ref = torch.autograd.grad(ref_out, (x, conv.weight, conv.bias), g)
    assert torch.allclose(out, ref_out)
    for a, b in zip(mine, ref):
        assert torch.allclose(a, b, atol=1e-10)


def test_evaluate_pitch_takes_several_pairs_and_names_a_bad_count(mini, tmp_path):
    from chromatool.evaluation import pitch_evaluation_pairs

    rows = [r.split(",") for r in Path(mini[1]).read_text().splitlines()[1:3]]
    base = Path(mini[1]).parent
    paths = [str(base / p) for row in rows for p in row[:2]]
    assert pitch_evaluation_pairs(paths) == [(base / a, base / b) for a, b, *_ in rows]
    r = invoke("evaluate", "pitch", *paths[:3])
    assert r.exit_code == 1 and "got 3 paths" in r.output and "Traceback" not in r.output


def test_training_hcqt_cache_key_follows_the_feature_version(monkeypatch):
    from chromatool import features as F
    from chromatool.deep import feature_config
    from chromatool.training import hcqt_cache_params

    before = hcqt_cache_params(feature_config())
    assert before["version"] == F.FEATURES_VERSION
    monkeypatch.setattr(F, "FEATURES_VERSION", F.FEATURES_VERSION + 1)
    assert hcqt_cache_params(feature_config()) != before


def test_bfloat16_training_follows_float32(mini, tmp_path):
    """--precision bfloat16 runs the forward pass under autocast: same steps, a validation loss
    within a few percent of float32's, the precision recorded; other values are refused."""
    import json

    small = ("--arch", "multipitch", "--model-setting", "prefilter_channels=4", "--model-setting", "binning_channels=4",
             "--model-setting", "time_channels=2")
    losses = {}
    for p in ("float32", "bfloat16"):
        d = tmp_path / p
        d.mkdir()
        out = _train(d, mini[1], "bce", *small, "--precision", p)
        assert torch.load(out, weights_only=True)["training"]["config"]["precision"] == p
        losses[p] = json.loads((d / "bce.log.jsonl").read_text().splitlines()[-1])["valid_loss"]
    assert np.isfinite(losses["bfloat16"]) and abs(losses["bfloat16"] - losses["float32"]) < 0.05 * losses["float32"]
    r = invoke("train", "--loss", "bce", "--data", mini[1], "-o", tmp_path / "x.pt", "--precision", "float16")
    assert r.exit_code != 0 and "--precision" in r.output


def test_more_cuda_processes_than_gpus_is_an_error(monkeypatch):
    from chromatool.errors import ParameterError
    from chromatool.training import init_distributed

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ParameterError, match="1 visible"):
        init_distributed("cuda")


def test_evaluate_pitch_centres_on_the_recordings_tuning_as_extract_does(tmp_path):
    """A chord 40 cents sharp scores as the in-tune one (the tuning estimated, as `extract` runs)."""
    import soundfile as sf

    from chromatool.deep import load_model
    from chromatool.evaluation import evaluate_pitch

    labels = tmp_path / "chord.mid.csv"
    labels.write_text("start_time,end_time,instrument,note,start_beat,end_beat,measure,note_value\n"
                      + "".join(f"0.0,3.0,piano,{m},1,4,1,\n" for m in (48, 55, 64)))
    pairs = []
    for name, cents in (("in_tune", 0.0), ("sharp", 40.0)):
        sf.write(tmp_path / f"{name}.wav", tone([m + cents / 100 for m in (48, 55, 64)], seconds=3.0, harmonics=6),
                 22050)
        pairs.append((tmp_path / f"{name}.wav", labels))
    rows = evaluate_pitch(pairs, load_model(output="pitch"))
    assert abs(rows[1]["tuning"] - 40) <= 5 and abs(rows[0]["tuning"]) <= 5
    assert rows[0]["f"] > 0.5 and abs(rows[1]["f"] - rows[0]["f"]) < 0.03  # at --tuning 0: 0.64 vs 0.74
    fixed = evaluate_pitch(pairs[1:], load_model(output="pitch"), tuning=0.0)
    assert fixed[0]["tuning"] == 0.0


def test_evaluate_pitch_sweeps_thresholds_from_one_run(tmp_path):
    """Several --threshold values: one pooled row each, from one run of the model; each equals
    what a run at that threshold alone gives, and recall cannot rise with the threshold."""
    import json

    import soundfile as sf

    labels = tmp_path / "chord.csv"
    labels.write_text("start_time,end_time,instrument,note,start_beat,end_beat,measure,note_value\n"
                      + "".join(f"0.5,2.5,piano,{m},1,4,1,\n" for m in (50, 57, 62, 66)))
    sf.write(tmp_path / "chord.wav", tone([50, 57, 62, 66], seconds=3.0, harmonics=6), 22050)
    args = ("evaluate", "pitch", tmp_path / "chord.wav", labels, "--format", "json")
    r = invoke(*args, "--threshold", "0.2", "--threshold", "0.6")
    assert r.exit_code == 0, r.output
    sweep = json.loads(r.output)
    assert [s["threshold"] for s in sweep] == [0.2, 0.6]
    assert sweep[0]["pooled"]["recall"] >= sweep[1]["pooled"]["recall"]
    alone = json.loads(invoke(*args, "--threshold", "0.6").output)
    assert alone["pooled"] == sweep[1]["pooled"] and alone["files"] == sweep[1]["files"]
    table = invoke("evaluate", "pitch", tmp_path / "chord.wav", labels, "--threshold", "0.2", "--threshold", "0.6")
    assert table.exit_code == 0 and "threshold" in table.output and "0.6" in table.output


def test_extract_gives_the_same_output_whatever_the_thread_count(real, tmp_path):
    """The CQT's bits do not depend on BLAS's threads (blas.reproducible_matmul), so neither does
    the network's bfloat16 input: a Dask worker or a batch job with OMP_NUM_THREADS=1 writes what
    a laptop writes. (Before, this chord's posteriors were 0.0056 apart.)"""
    chord = tmp_path / "chord.wav"
    sf.write(chord, tone([60, 64, 67], seconds=8.0, harmonics=3) * 0.5, SR)
    for wav in (real / "musopen" / "Beethoven_Op002-2-01_Pitman.wav", chord):
        outs = []
        for threads in ("1", "2"):
            out = tmp_path / f"{wav.stem}{threads}.npy"
            subprocess.run([sys.executable, "-m", "chromatool", "extract", str(wav), "-o", str(out)], check=True,
                           capture_output=True, env={**os.environ, "OMP_NUM_THREADS": threads})
            outs.append(np.load(out))
        np.testing.assert_array_equal(outs[0], outs[1])


def test_inference_paths_give_the_plain_layers_numbers():
    """Without gradients the networks pad inside their convolutions, fold wide kernels' bins
    into channels (fast_conv) and activate in place (faster); the numbers must be those of the
    layers as written, to float rounding."""
    import torch

    from chromatool import fast_conv
    from chromatool.models import CTCChroma, CTCChromaConfig, MultiPitch, MultiPitchConfig

    torch.manual_seed(0)
    for net in (CTCChroma(CTCChromaConfig(channels=(8, 4), distribute_channels=4)).eval(),
                MultiPitch(MultiPitchConfig(prefilter_channels=6, binning_channels=5, time_channels=4)).eval()):
        x = torch.randn(1, 6, 50, 216)
        run = net.salience_logits if isinstance(net, CTCChroma) else net
        with torch.enable_grad():
            fast_conv.ENABLED = False
            try:
                as_written = run(x)
            finally:
                fast_conv.ENABLED = True
        with torch.inference_mode():
            fast = run(x)
        assert as_written.requires_grad and not fast.requires_grad
        torch.testing.assert_close(fast, as_written.detach(), rtol=1e-5, atol=1e-5)


def test_training_through_fast_conv_gives_the_plain_layers_gradients():
    """Training on the CPU differentiates fast_conv's forms; the gradients must be those of the
    layers as written (fast_conv.ENABLED = False), to float rounding."""
    import torch

    from chromatool import fast_conv
    from chromatool.models import CTCChroma, CTCChromaConfig, MultiPitch, MultiPitchConfig

    for net in (CTCChroma(CTCChromaConfig(channels=(8, 4), distribute_channels=4)),
                MultiPitch(MultiPitchConfig(prefilter_channels=6, binning_channels=5, time_channels=4, dropout=0.0))):
        torch.manual_seed(0)
        x = torch.randn(2, 6, 40, 216)
        grads = []
        for enabled in (True, False):
            fast_conv.ENABLED = enabled
            try:
                net.zero_grad()
                net(x).square().mean().backward()
            finally:
                fast_conv.ENABLED = True
            grads.append([p.grad.clone() for p in net.parameters()])
        for fast, plain in zip(*grads):
            torch.testing.assert_close(fast, plain, rtol=1e-4, atol=1e-6)


def test_frequency_folding_is_the_plain_convolution():
    """fast_conv.folded_conv equals the padded convolution for odd and even kernels, bins that
    the fold does not divide, and folds from 1 to 7; the 3-frame maximum equals max_pool2d."""
    import torch
    import torch.nn.functional as F

    from chromatool import fast_conv
    from chromatool.models import _same_conv

    torch.manual_seed(1)
    for kernel, n_bins in (((3, 42), 216), ((5, 15), 100), ((3, 3), 37), ((1, 8), 9)):
        layer = _same_conv(3, 5, kernel)
        x = torch.randn(2, 3, 11, n_bins)
        with torch.no_grad():
            ref = layer(x)
            for fold in range(1, 8):
                torch.testing.assert_close(fast_conv.folded_conv(layer, x, fold), ref, rtol=1e-5, atol=1e-5)
    assert [fast_conv.fold_for(k) for k in (3, 15, 42)] == [1, 2, 6]
    for frames in (1, 2, 3, 9):
        x = torch.randn(1, 2, frames, 5)
        assert torch.equal(fast_conv.max_over_3_frames(x), F.max_pool2d(x, (3, 1), stride=1, padding=(1, 0)))
