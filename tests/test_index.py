"""The theme index: same answers as the exhaustive search, add/resume, versioning, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from chromatool import defaults as D
from chromatool.cli import app
from chromatool.errors import ChromatoolError, OutputError, ParameterError
from chromatool.index import META, ThemeIndex
from chromatool.index_build import add_to_index, build_index, write_index
from chromatool.index_search import candidates, search_index
from chromatool.render import synthesize
from chromatool.retrieval import retrieve
from chromatool.shingles import stretch

from conftest import SR
from test_retrieval import excerpt, piece

runner = CliRunner()


def _query(path, melody, a, b, tempo=1.0, shift=0):
    n = excerpt(melody, a, b, tempo).transpose(shift)
    rows = [f"{s:.3f};{e - s:.3f};{p}" for s, e, p in zip(n.onset, n.offset, n.pitch)]
    path.write_text("\n".join(["Start;Duration;Pitch", *rows]) + "\n")
    return path


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """Six ~30 s recordings, an index of the first four, and queries from docs 1 and 5."""
    d = tmp_path_factory.mktemp("archive")
    (d / "docs").mkdir()
    melodies = []
    for seed in range(6):
        notes, mel = piece(seed)
        sf.write(d / "docs" / f"doc{seed}.wav", synthesize(notes), SR)
        melodies.append(mel)
    q = d / "queries"
    q.mkdir()
    queries = [_query(q / "slow1.csv", melodies[1], 8, 26, tempo=1.3),
               _query(q / "fast1.csv", melodies[1], 20, 40, tempo=0.75),
               _query(q / "up5.csv", melodies[5], 4, 22, shift=2)]
    docs = sorted((d / "docs").glob("*.wav"))
    rep = build_index(docs[:4], d / "a.ctx", features="chroma", tuning=0, cache_root=str(d / "cache"))
    return d, docs, queries, rep


def test_index_ranks_as_the_exhaustive_search(archive):
    d, docs, queries, _ = archive
    full = retrieve(queries[:2], docs[:4], features="chroma", tuning=0, cache_root=str(d / "cache"), top=4)
    fast = search_index(queries[:2], d / "a.ctx", top=4, candidates_per_query=2)
    best = {h.query: h for h in full.hits if h.rank == 1}
    got = {h.query: h for h in fast.hits if h.rank == 1}
    assert set(got) == set(best)
    for q, h in got.items():
        assert h.doc == best[q].doc and h.doc.endswith("doc1.wav")
        assert h.cost == pytest.approx(best[q].cost, abs=2e-3)  # features stored as float16
        assert abs(h.start - best[q].start) <= 2 / D.FEATURE_RATE and abs(h.end - best[q].end) <= 2 / D.FEATURE_RATE
    # recordings the graph proposes are ranked by their cost, as exhaustively, with their ranks
    listed = [h for h in fast.hits if h.query == str(queries[0])]
    assert len(listed) >= 2 and [h.rank for h in listed] == list(range(1, len(listed) + 1))
    assert all(a.cost <= b.cost for a, b in zip(listed, listed[1:]))


def test_add_is_incremental_and_resumable(archive, tmp_path):
    d, docs, queries, _ = archive
    import shutil

    ix = tmp_path / "b.ctx"
    shutil.copytree(d / "a.ctx", ix)
    old_graph = json.loads((ix / META).read_text())["graph"]
    rep = add_to_index(ix, docs, cache_root=str(d / "cache"))
    assert [p.split("/")[-1] for p in rep.added] == ["doc4.wav", "doc5.wav"] and len(rep.present) == 4
    meta = json.loads((ix / META).read_text())
    assert not (ix / old_graph).exists() and (ix / meta["graph"]).exists() and len(meta["parts"]) == 2
    again = add_to_index(ix, docs, cache_root=str(d / "cache"))
    assert again.added == [] and len(again.present) == 6
    hits = search_index([queries[2]], ix, transpose=True, top=1).hits
    assert hits[0].doc.endswith("doc5.wav") and hits[0].transposition == -2
    assert ThemeIndex(ix).info()["documents"] == 6


def test_refusals(archive, tmp_path):
    d, docs, queries, _ = archive
    with pytest.raises(OutputError, match="exists"):
        build_index(docs[:1], d / "a.ctx", features="chroma", tuning=0, cache_root=str(d / "cache"))
    with pytest.raises(ParameterError, match="not a chromatool index"):
        ThemeIndex(tmp_path)
    import shutil

    old = tmp_path / "old.ctx"
    shutil.copytree(d / "a.ctx", old)
    meta = json.loads((old / META).read_text())
    (old / META).write_text(json.dumps({**meta, "format": 0}))
    with pytest.raises(ChromatoolError, match="rebuild"):
        ThemeIndex(old)
    ix = ThemeIndex(d / "a.ctx")
    with pytest.raises(ParameterError, match="kind='stft-chroma'"):
        ix.check_features({**ix.meta["features"], "kind": "stft-chroma"})
    with pytest.raises(ParameterError, match="shorter than an index shingle"):
        candidates(ix, np.ones((12, 20), np.float32))
    short = _query(tmp_path / "short.csv", piece(1)[1], 8, 11)  # 3 notes: searched exhaustively
    assert search_index([short], ix, top=1).hits[0].doc.endswith("doc1.wav")


def test_candidates_find_a_planted_theme_among_many(tmp_path):
    """400 synthetic recordings (about 11 hours of 25 Hz chroma); a theme played 1.3x faster
    is planted in one: the index proposes it first, at the right place."""
    rng = np.random.default_rng(1)

    def doc(n):  # chords held 0.2-1 s
        lens = rng.integers(5, 25, size=n // 5)
        return np.repeat(rng.random((12, len(lens))) ** 4, lens, axis=1)[:, :n].astype(np.float32)

    docs = [doc(2500) for _ in range(400)]
    theme = doc(250)
    docs[123][:, 1000:1000 + len(stretch(theme, 1.3).T)] = stretch(theme, 1.3)
    params = {"kind": "synthetic", "feature_rate": D.FEATURE_RATE}
    chunks = ([(f"d{i}", X) for i, X in enumerate(docs[c:c + 100], start=c)] for c in range(0, 400, 100))
    write_index(tmp_path / "s.ctx", chunks, params=params, fit_on=docs[:50])
    ix = ThemeIndex(tmp_path / "s.ctx")
    assert ix.info()["hours"] == pytest.approx(400 * 100 / 3600)
    (first, regions), *_ = candidates(ix, (theme > 0.3).astype(np.float32), n=5)
    assert first == 123 and any(a <= 1000 < b for a, b in regions)


def test_cli_index_build_info_and_retrieve(archive, tmp_path):
    d, docs, queries, _ = archive
    cache = ["--cache", str(d / "cache")]
    r = runner.invoke(app, ["index", "build", *map(str, docs[:4]), "-o", str(tmp_path / "c.ctx"), "--features",
                            "chroma", "--tuning", "0", *cache])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["index", "info", str(tmp_path / "c.ctx"), "--json"])
    info = json.loads(r.stdout)
    assert info["documents"] == 4 and info["features"]["kind"] == "chroma"
    via_index = runner.invoke(app, ["retrieve", str(queries[0]), str(tmp_path / "c.ctx"), "-f", "tsv", "-k", "4"])
    via_folder = runner.invoke(app, ["retrieve", str(queries[0]), str(d / "docs"), "-f", "tsv",
                                     "-k", "1", "--features", "chroma", "--tuning", "0", *cache])
    assert via_index.exit_code == 0, via_index.output
    assert via_index.stdout.splitlines()[1].split("\t")[:3] == via_folder.stdout.splitlines()[1].split("\t")[:3]
    wrong = runner.invoke(app, ["retrieve", str(queries[0]), str(tmp_path / "c.ctx"), "--features", "cens"])
    assert wrong.exit_code == 2 and "--features" in wrong.output
    again = runner.invoke(app, ["index", "build", str(docs[0]), "-o", str(tmp_path / "c.ctx")])
    assert again.exit_code == 1 and "--overwrite" in again.output
