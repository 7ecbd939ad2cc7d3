from __future__ import annotations

import json
import re
from dataclasses import replace

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from chromatool import defaults as D
from chromatool.cache import FeatureCache
from chromatool.cli import app
from chromatool.errors import ChromatoolError, ScoreError
from chromatool.evaluation import retrieval_scores
from chromatool.features import chroma
from chromatool.render import synthesize
from chromatool.retrieval import query_chroma, rank, retrieve
from chromatool.score import NoteList

from conftest import REAL, SR, need

runner = CliRunner()
FR = D.FEATURE_RATE


def piece(seed: int, n: int = 48) -> NoteList:
    """A melody of n notes over a bass line, random rhythm."""
    rng = np.random.default_rng(seed)
    dur = rng.choice([0.25, 0.5, 0.5, 0.75, 1.0], size=n)
    on = np.concatenate([[0.3], 0.3 + np.cumsum(dur)[:-1]])
    mel = 60 + np.cumsum(rng.choice([-4, -3, -2, -1, 1, 2, 3, 4], size=n)).clip(-8, 14)
    bass = mel - 12 - rng.choice([0, 3, 5, 7], size=n)
    k = 2 * n
    return NoteList(
        onset=np.concatenate([on, on]), offset=np.concatenate([on + dur, on + dur]),
        pitch=np.concatenate([mel, bass]), onset_beat=np.zeros(k), offset_beat=np.zeros(k),
        velocity=np.concatenate([np.full(n, 100), np.full(n, 60)]), part=np.repeat([0, 1], n),
        program=np.zeros(k, int), measure=np.zeros(k, int), note_value=("",) * k,
    ), (on, dur, mel)


def excerpt(melody, a: int, b: int, tempo: float) -> NoteList:
    on, dur, mel = melody
    o = (on[a:b] - on[a]) * tempo
    d = dur[a:b] * tempo
    k = b - a
    return NoteList(onset=o, offset=o + d, pitch=mel[a:b], onset_beat=np.zeros(k),
                    offset_beat=np.zeros(k), velocity=np.full(k, 90), part=np.zeros(k, int),
                    program=np.zeros(k, int), measure=np.zeros(k, int), note_value=("",) * k)


@pytest.fixture(scope="module")
def database():
    docs, melodies = [], []
    for seed in range(5):
        notes, mel = piece(seed)
        docs.append((f"doc{seed}", chroma(synthesize(notes)).data))
        melodies.append(mel)
    return docs, melodies


@pytest.mark.parametrize("tempo", [0.7, 1.4])
def test_query_at_another_tempo_is_found_at_its_place(database, tempo):
    docs, melodies = database
    a, b = 10, 26
    q = excerpt(melodies[2], a, b, tempo).chroma(feature_rate=FR)
    hits = rank([("q", q)], docs, top=5)
    assert hits[0].doc == "doc2"
    on, dur, _ = melodies[2]
    assert abs(hits[0].start - on[a]) <= 2 / FR
    assert abs(hits[0].end - (on[b - 1] + dur[b - 1])) <= 2 / FR
    assert [h.rank for h in hits] == [1, 2, 3, 4, 5]


def test_transposed_query_found_with_transpose(database):
    docs, melodies = database
    q = excerpt(melodies[3], 5, 20, 1.0).transpose(3).chroma(feature_rate=FR)
    plain = rank([("q", q)], docs, top=5)
    hits = rank([("q", q)], docs, top=5, transpose=True)
    # the recording plays the theme 3 semitones below the query
    assert hits[0].doc == "doc3" and hits[0].transposition == -3
    assert hits[0].cost < [h.cost for h in plain if h.doc == "doc3"][0]


@pytest.mark.parametrize("features", [None, "chroma"])  # the default (deep chroma) and CQT chroma
def test_real_themes_find_their_recordings(tmp_path, features):
    need(REAL)
    kw = {"features": features} if features else {}
    res = retrieve([REAL / "mtd_themes"], [REAL], cache_root=str(tmp_path / "cache"), top=3, **kw)
    first = {re.search(r"MTD\d+", h.query).group(): h.doc for h in res.hits if h.rank == 1}
    assert "Beethoven_Op067-01" in first["MTD1066"] and "Beethoven_Op067-01" in first["MTD1067"]
    assert "Beethoven_Op002-2-01" in first["MTD0815"]


def test_cache_hit_miss_and_corruption(tmp_path):
    wav = tmp_path / "a.wav"
    notes, _ = piece(7, n=16)
    sf.write(wav, synthesize(notes), SR)
    cache = FeatureCache(tmp_path / "cache")
    calls = []

    def compute():
        calls.append(1)
        return np.ones((12, 5), dtype=np.float32)

    params = {"kind": "chroma", "feature_rate": 25.0}
    cache.get(wav, params, compute)
    cache.get(wav, params, compute)
    assert len(calls) == 1 and cache.hits == 1 and cache.misses == 1
    cache.get(wav, {**params, "feature_rate": 50.0}, compute)  # other parameters: a miss
    assert len(calls) == 2
    entry = cache.entry(wav, params)
    entry.write_bytes(b"corrupt")
    np.testing.assert_array_equal(cache.get(wav, params, compute), np.ones((12, 5)))
    assert len(calls) == 3
    sf.write(wav, synthesize(piece(8, n=16)[0]), SR)  # changed content: a miss
    cache.get(wav, params, compute)
    assert len(calls) == 4


def test_bad_inputs(tmp_path):
    (tmp_path / "docs").mkdir()
    q = tmp_path / "q.csv"
    q.write_text("Start;Duration;Pitch\n0;0.5;60\n0.5;0.5;62\n")
    with pytest.raises(ChromatoolError, match="empty database"):
        retrieve([q], [tmp_path / "docs"], cache_root=str(tmp_path / "c"))
    empty = tmp_path / "e.csv"
    empty.write_text("Start;Duration;Pitch\n")
    with pytest.raises(ScoreError, match="e.csv: no notes"):
        query_chroma(empty)


def test_cli_retrieve_jsonl_and_evaluate(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    for seed in range(3):
        sf.write(docs / f"piece{seed}.wav", synthesize(piece(seed)[0]), SR)
    (docs / "broken.wav").write_text("nope")
    q = tmp_path / "piece1.csv"
    ex = excerpt(piece(1)[1], 4, 20, 1.2)
    q.write_text("Start;Duration;Pitch\n" + "".join(
        f"{a};{b - a};{p}\n" for a, b, p in zip(ex.onset, ex.offset, ex.pitch)))
    args = ["retrieve", str(q), str(docs), "--format", "jsonl", "--cache", str(tmp_path / "c")]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "skipped:" in r.stderr and "broken.wav" in r.stderr
    rows = [json.loads(ln) for ln in r.stdout.splitlines()]
    assert set(rows[0]) == {"query", "rank", "doc", "cost", "start", "end", "transposition"}
    assert rows[0]["doc"].endswith("piece1.wav") and rows[0]["rank"] == 1
    r2 = runner.invoke(app, args)
    assert "3 documents (3 from cache)" in r2.stderr
    assert runner.invoke(app, args + ["--strict"]).exit_code == 1
    res = tmp_path / "res.jsonl"
    res.write_text(r.stdout)
    truth = tmp_path / "truth.csv"
    truth.write_text("query,doc\npiece1.csv,piece1.wav\n")
    e = runner.invoke(app, ["evaluate", "retrieval", str(res), str(truth), "--format", "json"])
    assert e.exit_code == 0, e.output
    assert json.loads(e.stdout)["mean"]["mrr"] == 1.0


def test_scores_by_hand():
    results = {"a": {"x": 1, "y": 2}, "b": {"x": 1, "y": 2}, "c": {"x": 1}}
    s = retrieval_scores(results, {"a": "x", "b": "y", "c": "z"})
    assert s.mean["top-1"] == pytest.approx(1 / 3)
    assert s.mean["top-5"] == pytest.approx(2 / 3)
    assert s.mean["mrr"] == pytest.approx((1 + 0.5 + 0) / 3)
