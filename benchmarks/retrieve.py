"""Subsequence-DTW speed: chromatool's batched numba matcher against librosa.sequence.dtw.

Same problem for both: a 10 s query (250 frames at 25 Hz) against documents of 12-d chroma,
cosine distance, steps (2,1), (1,2), (1,1) with weights 2, 1, 1, subsequence matching; the cost
matrix is part of the work for both. Prints Mcells/s side by side on one core, then one query
against 100 hours of 25 Hz features (synthetic, held in memory as a cache would give them) on
all cores.

    python benchmarks/retrieve.py [--hours 100]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--hours", type=float, default=100.0)
    ap.add_argument("--query-seconds", type=float, default=10.0)
    args = ap.parse_args()

    import librosa

    from chromatool import defaults as D
    from chromatool.dtw import cost_matrix_cosine, match_queries

    rng = np.random.default_rng(0)
    fr = D.FEATURE_RATE
    N = int(args.query_seconds * fr)
    q = rng.random((12, N)).astype(np.float32)
    doc = rng.random((12, 30_000)).astype(np.float32)  # 20 minutes
    match_queries([q], [doc[:, :500]], threads=1)  # compile

    def ours(n_queries: int) -> float:
        qs = [rng.random((12, N)).astype(np.float32) for _ in range(n_queries)]
        t = time.perf_counter()
        match_queries(qs, [doc], threads=1)
        return n_queries * N * doc.shape[1] / (time.perf_counter() - t) / 1e6

    def ref() -> float:
        d = doc[:, :6000]
        t = time.perf_counter()
        C = cost_matrix_cosine(q, d)
        librosa.sequence.dtw(C=C, subseq=True, backtrack=False,
                             step_sizes_sigma=np.array(D.DTW_STEP_SIZES), weights_add=np.zeros(3),
                             weights_mul=np.array(D.DTW_STEP_WEIGHTS))
        return N * d.shape[1] / (time.perf_counter() - t) / 1e6

    ref()  # librosa's numba kernel compiles on first use
    r = max(ref() for _ in range(2))
    o1 = max(ours(1) for _ in range(2))
    o12 = ours(12)
    print(f"one core, {N}-frame query, cost matrix included")
    print(f"{'implementation':<38}{'Mcells/s':>10}{'ratio':>8}")
    print(f"{'librosa.sequence.dtw(subseq=True)':<38}{r:>10.0f}{1:>8.1f}")
    print(f"{'chromatool, 1 query':<38}{o1:>10.0f}{o1 / r:>8.1f}")
    print(f"{'chromatool, 12 queries (--transpose)':<38}{o12:>10.0f}{o12 / r:>8.1f}")

    # 100 hours as 6-minute documents
    doc_frames = int(6 * 60 * fr)
    n_docs = int(np.ceil(args.hours * 3600 * fr / doc_frames))
    docs = [rng.random((12, doc_frames)).astype(np.float32) for _ in range(n_docs)]
    t = time.perf_counter()
    cost, _ = match_queries([q], docs)
    dt = time.perf_counter() - t
    cells = N * doc_frames * n_docs
    print(f"one {args.query_seconds:.0f} s query against {args.hours:.0f} h ({n_docs} documents, "
          f"{n_docs * doc_frames / 1e6:.1f} M frames) on {os.cpu_count()} cores: {dt:.2f} s "
          f"({cells / dt / 1e6:.0f} Mcells/s), exact scores")


if __name__ == "__main__":
    main()
