"""The theme index against exhaustive subsequence DTW: quality, size, build and query time.

1. Quality, on the synthetic retrieval set (benchmarks/retrieval_set.py: 42 rendered
   recordings, 84 theme queries) made harder with each recording's 11 transpositions as
   distractors (492 documents): top-1 and MRR of exhaustive search and of the index at several
   --candidates, and the time per query of each.
2. Size, on simulated archives of 10, 100 and 1,000 hours (synthetic 25 Hz chroma: chords held
   0.2-1 s, 6-minute documents) with five themes planted, each played 1.2x faster: build time,
   index size, load time, query time after loading (five queries, each the best of three runs; the median) and one query through
   the whole command (`chromatool retrieve theme.csv archive.ctx`, start-up included), against
   exhaustive search over the same features held in memory, in the same run.

    python benchmarks/index.py [--hours 10 100 1000] [--set DIR] [--work DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from chromatool import defaults as D

FR = D.FEATURE_RATE
DOC_FRAMES = int(6 * 60 * FR)

#: An index holds one feature (retrieve's default, "fused", is three): the deep chroma.
FEATURES = "deep"


def quality(set_dir: Path, work: Path) -> None:
    from chromatool.evaluation import read_truth, retrieval_scores
    from chromatool.index_build import write_index
    from chromatool.index_search import search_index
    from chromatool.index_build import feature_setting
    from chromatool.retrieval import document_features, query_chroma, rank

    truth = read_truth(set_dir / "truth.csv")
    docs = sorted((set_dir / "docs").glob("*.wav"))
    qfiles = sorted((set_dir / "queries").glob("*.csv"))
    feats = [r[0].data for r in document_features(docs, kind=FEATURES, cache_root=str(set_dir / "cache"),
                                                   jobs=os.cpu_count() or 1)]
    archive = [(str(p), X) for p, X in zip(docs, feats)]
    archive += [(str(p.with_name(f"{p.stem}_t{k}.wav")), np.roll(X, k, axis=0))
                for p, X in zip(docs, feats) for k in range(1, 12)]
    hours = sum(X.shape[1] for _, X in archive) / FR / 3600
    print(f"quality: {len(docs)} recordings + {len(archive) - len(docs)} transposed distractors "
          f"({hours:.1f} h), {len(qfiles)} queries, {FEATURES}")

    def scores(hits) -> dict:
        ranks: dict[str, dict[str, int]] = {}
        for h in hits:
            ranks.setdefault(Path(h.query).stem, {})[Path(h.doc).stem] = h.rank
        return retrieval_scores(ranks, truth).mean

    queries = [(str(q), query_chroma(q)) for q in qfiles]
    rank(queries[:1], archive[:2])  # compile
    t = time.perf_counter()
    full = rank(queries, archive, top=100)  # reciprocal ranks past 100 are under 0.01
    t_full = (time.perf_counter() - t) / len(queries)
    ix_path = work / "quality.ctx"
    shutil.rmtree(ix_path, ignore_errors=True)
    write_index(ix_path, [archive], params=feature_setting(FEATURES)[0], fit_on=feats)
    s = scores(full)
    print(f"{'search':<26}{'top-1':>7}{'MRR':>7}{'ms/query':>10}{'speed-up':>10}")
    print(f"{'exhaustive':<26}{s['top-1']:>7.3f}{s['mrr']:>7.3f}{t_full * 1e3:>10.0f}{1:>10.1f}")
    for n in (10, 50, 100):
        t = time.perf_counter()
        res = search_index(qfiles, ix_path, top=n, candidates_per_query=n)
        dt = (time.perf_counter() - t) / len(queries)
        s2 = scores(res.hits)
        print(f"{f'index, --candidates {n}':<26}{s2['top-1']:>7.3f}{s2['mrr']:>7.3f}{dt * 1e3:>10.0f}"
              f"{t_full / dt:>10.1f}   MRR {s2['mrr'] - s['mrr']:+.3f}")


def simulated_doc(i: int) -> np.ndarray:
    """Document ``i`` of the simulated archive (deterministic): chords held 0.2-1 s."""
    rng = np.random.default_rng(1000 + i)
    lens = rng.integers(5, 26, size=DOC_FRAMES // 5)
    X = np.repeat(rng.random((12, len(lens)), dtype=np.float32) ** 4, lens, axis=1)[:, :DOC_FRAMES]
    return X + 0.02 * rng.random(X.shape, dtype=np.float32)


def themes(work: Path, n_docs: int) -> list[tuple[Path, int, np.ndarray]]:
    """Five random melodies as note lists (files), the document each is planted in and its
    rendering there (binary chroma 1.2x faster, over the document's chords)."""
    from chromatool.retrieval import query_chroma
    from chromatool.shingles import stretch

    rng = np.random.default_rng(7)
    out = []
    for k in range(5):
        dur = rng.choice([0.25, 0.5, 0.5, 1.0], size=20)
        on = np.concatenate([[0], np.cumsum(dur)[:-1]])
        pitch = 60 + np.cumsum(rng.choice([-3, -2, -1, 1, 2, 3], size=20))
        path = work / f"theme{k}.csv"
        path.write_text("Start;Duration;Pitch\n" + "\n".join(f"{a};{d};{p}" for a, d, p in zip(on, dur, pitch)) + "\n")
        out.append((path, int(rng.integers(n_docs)), stretch(query_chroma(path), 1.2)))
    return out


def planted(i: int, plants) -> np.ndarray:
    X = simulated_doc(i)
    for _, doc, P in plants:
        if doc == i:
            X[:, 3000:3000 + P.shape[1]] = np.maximum(X[:, 3000:3000 + P.shape[1]] * 0.3, P)
    return X


def scale(hours: float, work: Path) -> None:
    from chromatool.dtw import match_queries
    from chromatool.index import ThemeIndex
    from chromatool.index_build import write_index
    from chromatool.index_search import search_index
    from chromatool.index_build import feature_setting
    from chromatool.retrieval import query_chroma

    n_docs = int(round(hours * 3600 * FR / DOC_FRAMES))
    plants = themes(work, n_docs)
    path = work / f"sim{hours:g}h.ctx"
    shutil.rmtree(path, ignore_errors=True)
    chunks = ([(f"sim/{i:06d}.wav", planted(i, plants)) for i in range(c, min(c + 256, n_docs))]
              for c in range(0, n_docs, 256))
    t = time.perf_counter()
    write_index(path, chunks, params=feature_setting(FEATURES)[0],
                fit_on=[planted(i, plants) for i in range(0, n_docs, max(1, n_docs // 200))])
    t_build = time.perf_counter() - t  # includes simulating the features
    size = sum(f.stat().st_size for f in path.iterdir())
    graph = (path / "graph-0.usearch").stat().st_size
    t = time.perf_counter()
    ix = ThemeIndex(path)
    t_load = time.perf_counter() - t
    search_index([plants[0][0]], ix)  # compile
    times, found = [], 0
    for q, doc, _ in plants:
        best = np.inf
        for _ in range(3):  # best of three, as timeit does: the machine is shared
            t = time.perf_counter()
            hits = search_index([q], ix, top=1).hits
            best = min(best, time.perf_counter() - t)
        times.append(best)
        found += hits[0].doc == f"sim/{doc:06d}.wav"
    t_query = float(np.median(times))
    t = time.perf_counter()
    cmd = [str(Path(sys.executable).with_name("chromatool")), "retrieve", str(plants[0][0]), str(path), "-f", "tsv", "-q"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    t_cli = time.perf_counter() - t
    cli_ok = out.splitlines()[1].split("\t")[2] == f"sim/{plants[0][1]:06d}.wav"
    q = query_chroma(plants[0][0])
    t_full, best = 0.0, (np.inf, -1)
    for c in range(0, n_docs, 256):
        docs = [planted(i, plants) for i in range(c, min(c + 256, n_docs))]
        t = time.perf_counter()
        cost, _ = match_queries([q], docs)
        t_full += time.perf_counter() - t
        j = int(np.argmin(cost[0]))
        best = min(best, (float(cost[0, j]), c + j))
    print(f"{hours:>7g} h{n_docs:>7}{ix.meta['n_vectors']:>11,}{size / 1e6:>9.0f}{graph / 1e6:>8.0f}{t_build:>9.0f}"
          f"{t_load * 1e3:>8.0f}{t_query * 1e3:>9.1f}{t_cli:>8.1f}{t_full:>9.2f}{t_full / t_query:>9.0f}x"
          f"{found:>5}/5{'  ok' if cli_ok and best[1] == plants[0][1] else '  MISMATCH'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hours", type=float, nargs="*", default=[10, 100, 1000])
    ap.add_argument("--set", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "chromatool-retrieval-set")
    ap.add_argument("--work", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "chromatool-index-bench")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    if (args.set / "truth.csv").exists():
        quality(args.set, args.work)
    else:
        print(f"quality: skipped, no retrieval set at {args.set} (python benchmarks/retrieval_set.py)")
    if args.hours:
        print(f"\nsize: one 20-note theme per query; exhaustive = subsequence DTW over the features in memory, "
              f"{os.cpu_count()} cores")
        print(f"{'archive':>9}{'docs':>7}{'shingles':>11}{'MB':>9}{'graph':>8}{'build s':>9}{'load ms':>8}"
              f"{'query ms':>9}{'cli s':>8}{'exh. s':>9}{'ratio':>10}{'found':>7}")
    for h in args.hours:
        scale(h, args.work)
        for p in ([] if os.environ.get("KEEP") else args.work.glob(f"sim{h:g}h.ctx")):
            shutil.rmtree(p)  # the 1,000-hour index is several GB


if __name__ == "__main__":
    main()
