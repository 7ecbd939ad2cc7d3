"""Cross-version learning: version manifests, the contrastive losses, embeddings, the probe."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from chromatool.cli import app
from chromatool.contrastive import PairBatcher, info_nce
from chromatool.manifests import read_versions
from chromatool.train_config import TrainConfig

from conftest import SR

runner = CliRunner()
CHORALES = ("bwv66.6", "bwv1.6", "bwv10.7", "bwv101.7", "bwv102.7", "bwv103.6")


@pytest.fixture(scope="module")
def versions(tmp_path_factory):
    """Six chorales (12 s) in two versions each: sine tones labelled as a flute (GM 73) at the
    score's tempo, and six-partial tones labelled as a trumpet (GM 56) 1.25x slower; each with
    its time map and labels, listed in versions.csv."""
    from music21 import corpus

    from chromatool.labels import labels_csv
    from chromatool.render import synthesize
    from chromatool.score import read_score

    d = tmp_path_factory.mktemp("versions")
    rows = ["piece,audio,path,labels,group"]
    for name in CHORALES:
        notes = read_score(corpus.getWork("bach/" + name))
        notes = notes.select(notes.onset < 12)
        for v, (partials, program, speed) in enumerate(((1, 73, 1.0), (6, 56, 1.25))):
            played = replace(notes.time_scaled(speed), program=np.full(len(notes), program))
            sf.write(d / f"{name}_{v}.wav", synthesize(played, n_partials=partials), SR)
            (d / f"{name}_{v}.labels.csv").write_text(labels_csv(played, fmt="musicnet"))
            (d / f"{name}_{v}.path.csv").write_text(f"score_time,audio_time\n0,0\n12,{12 * speed}\n")
            rows.append(f"{name},{name}_{v}.wav,{name}_{v}.path.csv,{name}_{v}.labels.csv,bach/{name}")
    (d / "versions.csv").write_text("\n".join(rows) + "\n")
    return d


def test_rendered_versions_map_score_time_to_each_version(tmp_path):
    from music21 import corpus

    from chromatool.render import can_render

    if not can_render():
        pytest.skip("needs FluidSynth")
    score = corpus.getWork("bach/bwv66.6")
    r = runner.invoke(app, ["dataset", str(tmp_path / "cv"), str(score), "--versions", "2", "--max-seconds", "15",
                            "--excerpts", "0"])
    assert r.exit_code == 0, r.output
    items = read_versions(tmp_path / "cv" / "versions.csv")
    assert len(items) == 2 and items[0].piece == items[1].piece and items[0].audio != items[1].audio
    for it in items:  # the first score onset lands where the version's first note sounds
        first = float(np.interp(0.0, it.timemap[0], it.timemap[1]))
        assert abs(first - it.notes.onset.min()) < 0.05
        assert sf.info(str(it.audio)).duration > it.timemap[1, -1] - 0.5
    programs = [sorted(set(it.notes.program.tolist())) for it in items]
    assert programs[0] == programs[1]  # one instrumentation, as two recordings of one score


def test_pairs_are_time_corresponding_excerpts(versions):
    items = read_versions(versions / "versions.csv")
    hcqts = {it.audio: np.zeros((6, 216, 800), np.float16) for it in items}
    from chromatool.deep import feature_config

    b = PairBatcher(items, hcqts, feature_config(), TrainConfig(loss="cross-version", batch_size=4))
    rng = np.random.default_rng(0)
    for i in range(len(items)):
        a, fa, j, fb = b.pair(i, rng)
        assert items[j].piece == items[a].piece and j != a
        s = fa / 25 / (1.0 if a % 2 == 0 else 1.25)  # score time of the anchor
        assert abs(fb / 25 / (1.0 if j % 2 == 0 else 1.25) - s) < 0.05
    sv = PairBatcher(items, hcqts, feature_config(), TrainConfig(loss="single-version", batch_size=4))
    a, fa, j, fb = sv.pair(3, rng)
    assert a == j == 3 and abs(fa - fb) <= 2.0 * 25
    assert b.batch([0, 1, 2], None)["x"].shape == (6, 6, 75, 216)
    import torch

    z = torch.nn.functional.normalize(torch.randn(8, 16), dim=-1)
    assert float(info_nce(torch.cat([z[:4], z[:4]]))) < float(info_nce(z))  # positives identical: low loss


def test_per_recording_batches_hold_one_recording_at_different_times(versions):
    items = read_versions(versions / "versions.csv")
    hcqts = {it.audio: np.zeros((6, 216, 800), np.float16) for it in items}
    from chromatool.deep import feature_config

    b = PairBatcher(items, hcqts, feature_config(), TrainConfig(loss="cross-version", batch_size=8, per_recording=4))
    batches = b.epoch_batches(np.random.default_rng(0))
    assert sorted(i for bt in batches for i in set(bt)) == list(range(len(items)))  # each recording once
    assert all(len(bt) == 8 and all(bt.count(i) == 4 for i in bt) for bt in batches)
    n = b._frame(items[0], float(items[0].timemap[0, -1]))
    parts = [b.pair(0, np.random.default_rng(k), (k, 4))[1] for k in range(4)]
    assert all(k * n / 4 - 1 <= f <= (k + 1) * n / 4 + 1 for k, f in enumerate(parts))  # one per quarter
    off = PairBatcher(items, hcqts, feature_config(), TrainConfig(loss="cross-version", positive_offset=2.0))
    rng = np.random.default_rng(1)
    gaps = []
    for _ in range(40):  # score seconds between anchor and positive (speeds 1 and 1.25 alternate)
        a, fa, j, fb = off.pair(0, rng)
        gaps.append(fb / 25 / (1.0 if j % 2 == 0 else 1.25) - fa / 25 / (1.0 if a % 2 == 0 else 1.25))
    assert max(np.abs(gaps)) <= 2.05 and np.std(gaps) > 0.5


@pytest.fixture(scope="module")
def cv_model(versions):
    r = runner.invoke(app, ["train", "--data", str(versions / "versions.csv"), "--valid", str(versions / "versions.csv"),
                            "--loss", "cross-version", "-o", str(versions / "cv.pt"), "--batch-size", "12",
                            "--steps-per-epoch", "4", "--epochs", "5", "--model-setting", "channels=8,8,16,16",
                            "--model-setting", "dims=16", "--cache", str(versions / "cache"), "--threads", "2"])
    assert r.exit_code == 0, r.output
    return versions / "cv.pt"


def test_a_tiny_cross_version_run_lowers_its_loss(cv_model):
    log = [json.loads(line) for line in cv_model.with_suffix(".log.jsonl").read_text().splitlines()]
    assert len(log) == 5 and log[-1]["train_loss"] < 0.8 * log[0]["train_loss"]


def test_extract_and_retrieve_with_an_embedding_model(cv_model, versions, tmp_path):
    r = runner.invoke(app, ["extract", str(versions / "bwv66.6_0.wav"), "-o", str(tmp_path / "e.npy"), "--kind",
                            "embedding", "--model", str(cv_model), "--tuning", "0"])
    assert r.exit_code == 0, r.output
    E = np.load(tmp_path / "e.npy")
    meta = json.loads((tmp_path / "e.json").read_text())
    assert E.shape[0] == 16 and abs(E.shape[1] / meta["feature_rate"] - sf.info(str(versions / "bwv66.6_0.wav")).duration) < 0.1
    np.testing.assert_allclose(np.linalg.norm(E, axis=0), 1, atol=1e-4)
    y, _ = sf.read(versions / "bwv66.6_0.wav")
    sf.write(tmp_path / "query.wav", y[2 * SR: 8 * SR], SR)  # an excerpt of one version
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in CHORALES:
        (docs / f"{name}_1.wav").symlink_to(versions / f"{name}_1.wav")
    r = runner.invoke(app, ["retrieve", str(tmp_path / "query.wav"), str(docs), "--features", "embedding", "--model",
                            str(cv_model), "--tuning", "0", "-f", "jsonl", "--cache", str(tmp_path / "cache")])
    assert r.exit_code == 0, r.output
    hits = [json.loads(line) for line in r.stdout.splitlines()]
    assert [h["rank"] for h in hits] == list(range(1, 7)) and all(np.isfinite(h["cost"]) for h in hits)
    bad = runner.invoke(app, ["retrieve", str(tmp_path / "query.wav"), str(docs), "--features", "embedding",
                              "--model", str(cv_model), "--transpose"])
    assert bad.exit_code == 1 and "--transpose" in bad.output


def test_probe_scores_a_supervised_reference_on_a_toy_set(versions, cv_model, tmp_path):
    from chromatool.probe import probe, split_items

    items = read_versions(versions / "versions.csv")
    train, test = split_items(items, seed=0)
    assert {it.piece for it in train}.isdisjoint({it.piece for it in test})
    rows = probe(train, test, {"cv": str(cv_model), "supervised": None})
    assert [r.name for r in rows] == ["cv", "supervised"]
    for r in rows:
        for task in ("instruments", "pitch classes"):
            assert set(r.scores[task]) == {"AP", "AUC", "F1"}
            assert all(0 <= v <= 1 for v in r.scores[task].values())
    sup = rows[1].scores
    assert sup["instruments"]["AUC"] > 0.9 and sup["pitch classes"]["AUC"] > 0.6  # timbre and pitch are there
    r = runner.invoke(app, ["evaluate", "probe", str(versions / "versions.csv"), "-m", str(cv_model), "--plot",
                            str(tmp_path / "ssm.png")], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert "supervised (HCQT)" in r.stdout and (tmp_path / "ssm.png").stat().st_size > 5000


def test_probe_over_repeated_splits_reports_mean_and_spread(versions, cv_model):
    from chromatool.probe import probe, probe_splits, repeated_splits

    items = read_versions(versions / "versions.csv")
    parts = repeated_splits(items, 3)
    assert len({tuple(sorted(it.piece for it in tr)) for tr, _ in parts}) >= 2  # the splits differ
    rows = probe_splits(parts, {"supervised": None})
    r = rows[0]
    assert len(r.runs) == 3
    ap = [run["instruments"]["AP"] for run in r.runs]
    assert r.scores["instruments"]["AP"] == pytest.approx(np.mean(ap))
    assert r.spread["instruments"]["AP"] == pytest.approx(np.std(ap))
    one = probe(*parts[0], {"supervised": None})[0]  # the first split alone gives its own figures
    assert one.scores == r.runs[0] and one.spread == {}
    out = runner.invoke(app, ["evaluate", "probe", str(versions / "versions.csv"), "-m", str(cv_model),
                              "--no-supervised", "--splits", "2"], env={"COLUMNS": "250"})
    assert out.exit_code == 0, out.output
    assert "mean ± sd of 2 splits" in out.stdout and "±" in out.stdout.split("mean")[-1]


def test_asap_versions_are_two_pianists_mapped_through_their_beats(tmp_path):
    """dataset --asap --versions 2: two performances of one piece whose time maps (from the
    annotated beats) put the same notes at corresponding times."""
    from chromatool.render import can_render
    from conftest import DATA, need

    root = need(DATA / "asap")
    if not can_render():
        pytest.skip("needs FluidSynth")
    r = runner.invoke(app, ["dataset", str(tmp_path / "cv"), "--asap", str(root), "--versions", "2",
                            "--pieces", "1", "--max-seconds", "20", "--seed", "3"])
    assert r.exit_code == 0, r.output
    a, b = read_versions(tmp_path / "cv" / "versions.csv")
    assert a.piece == b.piece and a.audio != b.audio and a.group == b.group

    def sounding(it, score_t):  # the pitches each version's labels hold at these score times
        t = np.interp(score_t, it.timemap[0], it.timemap[1])
        return [set(it.notes.pitch[(it.notes.onset <= x) & (it.notes.offset > x)].tolist()) for x in t]

    def agreement(shift):
        lo, hi = max(a.timemap[0, 0], b.timemap[0, 0]), min(a.timemap[0, -1], b.timemap[0, -1])
        t = np.linspace(lo + 1.5, hi - 1.5, 40)
        pairs = zip(sounding(a, t), sounding(b, t + shift))
        return np.mean([len(x & y) / max(1, len(x | y)) for x, y in pairs])

    assert agreement(0.0) > 0.4
    assert agreement(0.0) > agreement(1.0) + 0.15 and agreement(0.0) > agreement(-1.0) + 0.15


def test_asap_version_sets_leave_out_excluded_pieces():
    """Training versions never share a piece with a test set (dataset --exclude)."""
    from chromatool.performances import asap_version_sets, performance_group
    from conftest import DATA, need

    root = need(DATA / "asap")
    test = asap_version_sets(root, 2, 10, np.random.default_rng(0))
    assert len(test) == 10 and all(len(v) == 2 and v[0] != v[1] for v in test)
    assert all(performance_group(v[0]) == performance_group(v[1]) for v in test)  # one piece, two pianists
    groups = frozenset(performance_group(v[0]) for v in test)
    train = asap_version_sets(root, 2, 1000, np.random.default_rng(0), exclude=groups)
    assert train and not groups & {performance_group(v[0]) for v in train}


def test_dataset_exclude_leaves_out_a_manifests_pieces(tmp_path):
    from music21 import corpus

    score = corpus.getWork("bach/bwv66.6")
    (tmp_path / "test.csv").write_text(f"audio,labels,group\na.flac,a.csv,bach/{score.stem}\n")
    r = runner.invoke(app, ["dataset", str(tmp_path / "d"), str(score), "--exclude", str(tmp_path / "test.csv")])
    assert r.exit_code != 0 and "no scores to render" in r.output
