"""Dynamic time warping: full and subsequence DTW with general step sizes and weights, and a
fast batched subsequence-DTW matcher for retrieval. Pure numpy/numba.

Conventions (synctoolbox / librosa): a cost matrix ``C`` is (N, M) with the query (or score)
on axis 0; a step ``(dn, dm)`` moves ``dn`` rows and ``dm`` columns; the accumulated cost is
``D[n, m] = min_k D[n - dn_k, m - dm_k] + w_k * C[n, m]`` (librosa's ``weights_mul``); warping
paths are (2, L) arrays of (row, column) indices in increasing order.
"""

from __future__ import annotations

import functools
import os

import numba
import numpy as np

from . import defaults as D
from .errors import ParameterError


def _steps(step_sizes, step_weights) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(step_sizes, dtype=np.int64).reshape(-1, 2)
    w = np.asarray(step_weights, dtype=np.float64).reshape(-1)
    if s.shape[0] != w.shape[0]:
        raise ParameterError(f"{s.shape[0]} step sizes but {w.shape[0]} weights")
    if np.any(s < 0) or np.any(s.sum(axis=1) == 0):
        raise ParameterError(f"step sizes must be non-negative and move: {s.tolist()}")
    return s, w


def cost_matrix_cosine(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Cosine distance ``1 - <x_n, y_m> / (|x_n| |y_m|)`` between the columns of X (d, N) and
    Y (d, M): shape (N, M). Zero columns count as uniform vectors."""
    from .features import normalize

    if X.shape[0] != Y.shape[0]:
        raise ParameterError(f"feature dimensions differ: {X.shape[0]} vs {Y.shape[0]}")
    return (1.0 - normalize(X).T @ normalize(Y)).astype(np.float64)


@numba.njit(cache=True)
def _accumulate(C, steps, weights, subsequence):
    N, M = C.shape
    Dm = np.full((N, M), np.inf)
    B = np.full((N, M), -1, dtype=np.int64)
    if subsequence:
        for m in range(M):
            Dm[0, m] = C[0, m]
    else:
        Dm[0, 0] = C[0, 0]
    for m in range(M):
        for n in range(N):
            if n == 0 and (subsequence or m == 0):
                continue
            best = np.inf
            arg = -1
            for k in range(steps.shape[0]):
                pn = n - steps[k, 0]
                pm = m - steps[k, 1]
                if pn < 0 or pm < 0:
                    continue
                v = Dm[pn, pm] + weights[k] * C[n, m]
                if v < best:
                    best = v
                    arg = k
            Dm[n, m] = best
            B[n, m] = arg
    return Dm, B


@numba.njit(cache=True)
def _backtrack(B, steps, n, m):
    out_n = np.empty(B.shape[0] + B.shape[1], dtype=np.int64)
    out_m = np.empty(B.shape[0] + B.shape[1], dtype=np.int64)
    L = 0
    while True:
        out_n[L] = n
        out_m[L] = m
        L += 1
        k = B[n, m]
        if k < 0:
            break
        n -= steps[k, 0]
        m -= steps[k, 1]
    return out_n[:L][::-1].copy(), out_m[:L][::-1].copy()


def accumulated_cost(C: np.ndarray, *, subsequence: bool = False,
                     step_sizes=D.DTW_STEP_SIZES, step_weights=D.DTW_STEP_WEIGHTS
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Accumulated cost matrix and the step taken into each cell (-1 at path starts).

    Returns
    -------
    D : np.ndarray [shape=(N, M)]  (inf where unreachable)
    steps_taken : np.ndarray [shape=(N, M), dtype=int]
    """
    C = np.asarray(C, dtype=np.float64)
    if C.ndim != 2 or 0 in C.shape:
        raise ParameterError(f"cost matrix must be 2-D and non-empty, got shape {C.shape}")
    s, w = _steps(step_sizes, step_weights)
    return _accumulate(C, s, w, subsequence)


def dtw(C: np.ndarray, *, step_sizes=((1, 0), (0, 1), (1, 1)),
        step_weights=(1.0, 1.0, 1.0)) -> tuple[float, np.ndarray, np.ndarray]:
    """Full DTW of a cost matrix: (total cost, D, warping path (2, L) from (0, 0) to (N-1, M-1))."""
    Dm, B = accumulated_cost(C, step_sizes=step_sizes, step_weights=step_weights)
    N, M = Dm.shape
    if not np.isfinite(Dm[-1, -1]):
        raise ParameterError(f"no warping path with these steps from (0, 0) to ({N - 1}, {M - 1})")
    s, _ = _steps(step_sizes, step_weights)
    pn, pm = _backtrack(B, s, N - 1, M - 1)
    return float(Dm[-1, -1]), Dm, np.stack([pn, pm])


def subsequence_dtw(C: np.ndarray, *, step_sizes=D.DTW_STEP_SIZES,
                    step_weights=D.DTW_STEP_WEIGHTS) -> tuple[np.ndarray, np.ndarray]:
    """Subsequence DTW: the matching function and the accumulated cost.

    Returns
    -------
    delta : np.ndarray [shape=(M,)] ``D[N-1, m] / N``: the cost of the best match ending at m,
        normalised by the query length
    D : np.ndarray [shape=(N, M)]

    Examples
    --------
    >>> import numpy as np
    >>> from chromatool import subsequence_dtw
    >>> C = np.array([[1.0, 0, 1, 1, 1], [1, 1, 0, 1, 1]])  # a 2-frame query that fits at columns 1-2
    >>> delta, _ = subsequence_dtw(C)
    >>> delta
    array([inf, 1. , 0. , 0.5, 1. ])
    >>> int(np.argmin(delta))  # the best match ends at column 2
    2
    """
    Dm, _ = accumulated_cost(C, subsequence=True, step_sizes=step_sizes, step_weights=step_weights)
    return Dm[-1] / Dm.shape[0], Dm


def subsequence_path(C: np.ndarray, end: int | None = None, *, step_sizes=D.DTW_STEP_SIZES,
                     step_weights=D.DTW_STEP_WEIGHTS) -> tuple[float, np.ndarray]:
    """Best (or the one ending at column ``end``) subsequence match: (normalised cost, path (2, L))."""
    Dm, B = accumulated_cost(C, subsequence=True, step_sizes=step_sizes, step_weights=step_weights)
    delta = Dm[-1] / Dm.shape[0]
    if end is None:
        end = int(np.argmin(delta))
    if not np.isfinite(delta[end]):
        raise ParameterError(f"no subsequence match ends at column {end}")
    s, _ = _steps(step_sizes, step_weights)
    pn, pm = _backtrack(B, s, Dm.shape[0] - 1, end)
    return float(delta[end]), np.stack([pn, pm])


# ---------------------------------------------------------------------------------------------
# Batched matcher: many queries against many documents, cost computed on the fly, O(N) memory
# ---------------------------------------------------------------------------------------------


#: Stands for "unreachable" in the batched matcher (finite, so fastmath stays valid).
_BIG = np.float32(1e30)
#: Cost cells computed together by one BLAS product (a block that stays in the CPU cache).
_BLOCK_CELLS = 1 << 18


@numba.njit(cache=True, fastmath=True, nogil=True)
def _sdtw_columns(Cb, m_offset, S, smask, mask1, mask2, ends, lens, w21, w12, w11,
                  out_cost, out_end):
    """Advance the batched subsequence DTW over the columns of a cost block.

    Cb: (block, Ntot) costs of the concatenated queries against ``block`` document frames
    starting at frame ``m_offset``. S: (3, Ntot + 2) ring of accumulated-cost columns (column
    m in row m % 3, two leading pad entries), carried from block to block. Steps (1,1), (2,1),
    (1,2) with weights w11, w21, w12: every step advances the document, so a column depends
    only on the two before it and its rows are independent (the inner loop vectorises).
    ``smask`` is 0 on each query's first row (a match may start there) and _BIG elsewhere;
    ``mask1``/``mask2`` are _BIG where row n-1 / n-2 belongs to another query.
    """
    Ntot = Cb.shape[1]
    nq = ends.shape[0]
    for j in range(Cb.shape[0]):
        m = m_offset + j
        cur = S[m % 3]
        p1 = S[(m + 2) % 3]
        p2 = S[(m + 1) % 3]
        c = Cb[j]
        for n in range(Ntot):
            cn = c[n]
            a = p1[n + 1] + mask1[n] + w11 * cn  # from (n-1, m-1)
            b = p1[n] + mask2[n] + w21 * cn  # from (n-2, m-1)
            e = p2[n + 1] + mask1[n] + w12 * cn  # from (n-1, m-2)
            cur[n + 2] = min(min(a, b), min(e, smask[n] + cn))
        for q in range(nq):
            v = cur[ends[q] + 2]
            if v < np.float32(1e29):
                v = v / lens[q]
                if v < out_cost[q]:
                    out_cost[q] = v
                    out_end[q] = m


def _check_fast_steps(step_sizes, step_weights) -> tuple[float, float, float]:
    s, w = _steps(step_sizes, step_weights)
    table = {tuple(x): float(v) for x, v in zip(s.tolist(), w.tolist())}
    if set(table) != {(2, 1), (1, 2), (1, 1)}:
        raise ParameterError(
            f"the batched matcher supports the steps (2,1), (1,2), (1,1) only, got {s.tolist()}; "
            "use subsequence_dtw for others"
        )
    return table[(2, 1)], table[(1, 2)], table[(1, 1)]


def match_queries(queries: list[np.ndarray], docs: list[np.ndarray], *,
                  step_sizes=D.DTW_STEP_SIZES, step_weights=D.DTW_STEP_WEIGHTS,
                  threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Subsequence-DTW match of every query against every document (cosine distance).

    Parameters
    ----------
    queries : list of np.ndarray [shape=(d, N_q)]
    docs : list of np.ndarray [shape=(d, M_j)]
    threads : documents matched in parallel (default: one per CPU core)

    Returns
    -------
    cost : np.ndarray [shape=(n_queries, n_docs)] minimum of the matching function (normalised
        by query length); inf where a document is too short for any match
    end : np.ndarray [shape=(n_queries, n_docs), dtype=int] document frame where it is reached
    """
    from .features import normalize

    w21, w12, w11 = _check_fast_steps(step_sizes, step_weights)
    if not queries or not docs:
        raise ParameterError("need at least one query and one document")
    dims = {x.shape[0] for x in queries} | {y.shape[0] for y in docs}
    if len(dims) != 1:
        raise ParameterError(f"queries and documents have different feature sizes: {sorted(dims)}")
    Q = np.ascontiguousarray(np.concatenate([normalize(q) for q in queries], axis=1), dtype=np.float32)
    lens = np.array([q.shape[1] for q in queries], dtype=np.float32)
    if np.any(lens == 0):
        raise ParameterError("a query has no frames")
    ends = (np.cumsum(lens) - 1).astype(np.int64)
    first = np.concatenate([[0], ends[:-1] + 1]).astype(np.int64)
    Ntot = Q.shape[1]
    pos = np.arange(Ntot) - np.repeat(first, lens.astype(np.int64))
    smask = np.where(pos == 0, 0, _BIG).astype(np.float32)
    mask1 = np.where(pos >= 1, 0, _BIG).astype(np.float32)
    mask2 = np.where(pos >= 2, 0, _BIG).astype(np.float32)
    cost = np.full((len(queries), len(docs)), np.inf, dtype=np.float32)
    end = np.full((len(queries), len(docs)), -1, dtype=np.int64)
    w = (np.float32(w21), np.float32(w12), np.float32(w11))
    block = int(np.clip(_BLOCK_CELLS // Ntot, 16, 4096))

    frames = np.array([y.shape[1] for y in docs])
    if frames.sum() <= _JOINT_FRAMES:  # normalised together: many short regions cost less
        flat = np.ascontiguousarray(normalize(np.concatenate(docs, axis=1)).T, dtype=np.float32)
        YTs = np.split(flat, np.cumsum(frames)[:-1])
    else:
        YTs = None

    def one(j: int) -> None:
        YT = YTs[j] if YTs is not None else np.ascontiguousarray(normalize(docs[j]).T, dtype=np.float32)
        S = np.full((3, Ntot + 2), _BIG, dtype=np.float32)
        oc = np.full(len(queries), np.inf, dtype=np.float32)
        oe = np.full(len(queries), -1, dtype=np.int64)
        for m0 in range(0, YT.shape[0], block):
            Cb = 1.0 - YT[m0:m0 + block] @ Q
            _sdtw_columns(Cb, m0, S, smask, mask1, mask2, ends, lens, *w, oc, oe)
        cost[:, j] = oc
        end[:, j] = oe

    cells = Ntot * int(frames.sum())
    workers = min(len(docs), threads or os.cpu_count() or 1, max(1, cells // _MIN_CELLS_PER_THREAD))
    if workers <= 1:
        for j in range(len(docs)):
            one(j)
    else:
        from concurrent.futures import ThreadPoolExecutor

        def some(js) -> None:
            for j in js:
                one(j)

        # one task per thread, documents dealt round robin (a task per document costs more than
        # matching a short region); BLAS single-threaded inside the threads
        with _blas_controller().limit(limits=1), ThreadPoolExecutor(workers) as pool:
            list(pool.map(some, [range(k, len(docs), workers) for k in range(workers)]))
    return cost.astype(np.float64), end


#: Documents with at most this many frames in all are normalised in one call.
_JOINT_FRAMES = 1_000_000
#: Below this many cost cells per thread, matching runs in the calling thread.
_MIN_CELLS_PER_THREAD = 2_000_000


@functools.lru_cache(maxsize=None)
def _blas_controller():
    """threadpoolctl's controller, made once (finding the BLAS libraries takes milliseconds)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def locate_match(query: np.ndarray, doc: np.ndarray, end: int, *, step_sizes=D.DTW_STEP_SIZES,
                 step_weights=D.DTW_STEP_WEIGHTS) -> tuple[float, np.ndarray, tuple[int, int]]:
    """Backtrack the match of ``query`` ending at document frame ``end``.

    Only the columns a path can span are evaluated: with steps that move at most ``k`` columns
    per row, a match of an N-frame query covers at most ``k * N`` document frames.

    Returns (normalised cost, warping path (2, L) in document frames, (start, end) frames).

    The path's first and last columns are where the DTW chose to match the query's first and
    last frames; where the document dwells longer on the query's first (last) event than the
    query does, any of those frames would do, and DTW prefers the cleanest. The reported
    ``(start, end)`` extend the path over the neighbouring frames that match the query's first
    (last) event nearly as well (within ``BOUNDARY_TOLERANCE`` cosine distance), at most by the
    length of that event in the query.
    """
    s, _ = _steps(step_sizes, step_weights)
    span = int(s[:, 1].max()) * query.shape[1] + 1
    lo = max(0, end - span)
    hi = min(doc.shape[1], end + 1 + query.shape[1])
    C = cost_matrix_cosine(query, doc[:, lo:hi])
    cost, wp = subsequence_path(C[:, :end + 1 - lo], end - lo, step_sizes=step_sizes,
                                step_weights=step_weights)
    a, b = int(wp[1, 0]), int(wp[1, -1])
    first_run = _run_length(query, 0)
    last_run = _run_length(query[:, ::-1], 0)
    ref = C[0, a] + BOUNDARY_TOLERANCE
    k = 0
    while a > 0 and k < first_run and C[0, a - 1] <= ref:
        a -= 1
        k += 1
    ref = C[-1, b] + BOUNDARY_TOLERANCE
    k = 0
    while b + 1 < C.shape[1] and k < last_run and C[-1, b + 1] <= ref:
        b += 1
        k += 1
    wp[1] += lo
    return cost, wp, (a + lo, b + lo)


#: Cosine-distance slack within which a neighbouring frame still matches a query's boundary event.
BOUNDARY_TOLERANCE: float = 0.1


def _run_length(X: np.ndarray, i: int) -> int:
    """How many frames from ``i`` on equal frame ``i``."""
    same = np.all(np.isclose(X, X[:, i:i + 1]), axis=0)
    stop = np.flatnonzero(~same[i:])
    return int(stop[0]) if stop.size else X.shape[1] - i
