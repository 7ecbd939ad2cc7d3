"""Multiresolution DTW for score-to-audio alignment: coarse to fine, inside a band that widens
where the coarser path is doubtful, with memory linear in the length (after Müller, Mattes &
Kurth's multiscale DTW and the memory-restricted MrMsDTW of the Sync Toolbox).

Pure numpy/numba. Sequences are feature matrices (d, N) and (d, M) at one feature rate;
warping paths are (2, L) arrays of frame indices from (0, 0) to (N-1, M-1).
"""

from __future__ import annotations

import numba
import numpy as np

from .errors import ParameterError

#: Steps of alignment DTW: (1, 0), (0, 1), (1, 1).
#: Their weights (horizontal, vertical, diagonal): chosen on the expressive evaluation set
#: (benchmarks/align_eval.py).
STEP_WEIGHTS: tuple[float, float, float] = (1.0, 1.0, 1.0)
#: Band radius (frames at each level) around the projected coarser path ...
RADIUS: int = 12
#: ... widened up to this where the coarser path's local cost is high (an unsure stretch).
MAX_RADIUS: int = 48
#: Cells of the coarsest level's full cost matrix (it sets how many levels there are).
MAX_COARSE_CELLS: int = 4_000_000
#: Levels with a decimation factor up to this use the second (onset) features too.
ONSET_LEVELS: int = 8


@numba.njit(cache=True)
def _banded_dtw(X, Y, X2, Y2, w2, lo, hi, wh, wv, wd):
    """Full DTW restricted to columns lo[n]..hi[n] of each row, steps (0,1), (1,0), (1,1) with
    weights wh, wv, wd and cost 1 - <x_n, y_m> + w2 * (1 - <x2_n, y2_m>) computed on the fly.
    Returns the path (rows, cols) and the local cost of each path cell."""
    N = X.shape[1]
    d = X.shape[0]
    d2 = X2.shape[0]
    off = np.zeros(N + 1, dtype=np.int64)
    for n in range(N):
        off[n + 1] = off[n] + hi[n] - lo[n] + 1
    Dm = np.full(off[N], np.inf)
    Cm = np.empty(off[N])
    for n in range(N):
        for m in range(lo[n], hi[n] + 1):
            acc = 0.0
            for k in range(d):
                acc += X[k, n] * Y[k, m]
            c = 1.0 - acc
            if w2 > 0:
                acc2 = 0.0
                for k in range(d2):
                    acc2 += X2[k, n] * Y2[k, m]
                c += w2 * (1.0 - acc2)
            i = off[n] + m - lo[n]
            Cm[i] = c
            if n == 0 and m == 0:
                Dm[i] = c
                continue
            best = np.inf
            if m - 1 >= lo[n]:
                best = Dm[i - 1] + wh * c
            if n > 0 and lo[n - 1] <= m <= hi[n - 1]:
                v = Dm[off[n - 1] + m - lo[n - 1]] + wv * c
                if v < best:
                    best = v
            if n > 0 and lo[n - 1] <= m - 1 <= hi[n - 1]:
                v = Dm[off[n - 1] + m - 1 - lo[n - 1]] + wd * c
                if v < best:
                    best = v
            Dm[i] = best
    pn = np.empty(N + Y.shape[1], dtype=np.int64)
    pm = np.empty(N + Y.shape[1], dtype=np.int64)
    pc = np.empty(N + Y.shape[1])
    n = N - 1
    m = hi[N - 1]
    L = 0
    while True:
        i = off[n] + m - lo[n]
        pn[L] = n
        pm[L] = m
        pc[L] = Cm[i]
        L += 1
        if n == 0 and m == 0:
            break
        c = Cm[i]
        best = np.inf
        bn, bm = -1, -1
        if n > 0 and lo[n - 1] <= m - 1 <= hi[n - 1]:
            v = Dm[off[n - 1] + m - 1 - lo[n - 1]] + wd * c
            if v < best:
                best, bn, bm = v, n - 1, m - 1
        if n > 0 and lo[n - 1] <= m <= hi[n - 1]:
            v = Dm[off[n - 1] + m - lo[n - 1]] + wv * c
            if v < best:
                best, bn, bm = v, n - 1, m
        if m - 1 >= lo[n]:
            v = Dm[i - 1] + wh * c
            if v < best:
                best, bn, bm = v, n, m - 1
        n, m = bn, bm
    return pn[:L][::-1].copy(), pm[:L][::-1].copy(), pc[:L][::-1].copy()


def downsample(X: np.ndarray, factor: int) -> np.ndarray:
    """Average ``factor`` frames into one (the last block padded by repetition), then
    ℓ2-normalise the columns."""
    from .features import normalize

    if factor == 1:
        return normalize(X)
    n = int(np.ceil(X.shape[1] / factor))
    pad = np.pad(X, ((0, 0), (0, n * factor - X.shape[1])), mode="edge")
    return normalize(pad.reshape(X.shape[0], n, factor).mean(axis=2))


def path_radius(local_cost: np.ndarray, *, radius: int, max_radius: int, window: int) -> np.ndarray:
    """Band radius at each cell of a path: ``radius`` where the smoothed local cost is typical,
    growing to ``max_radius`` where it is high (between the median and the 95th percentile of
    the path's cost), so an unsure stretch gets room at the next level."""
    from scipy.ndimage import uniform_filter1d

    c = uniform_filter1d(local_cost, size=max(1, window), mode="nearest")
    lo, hi = np.median(c), np.quantile(c, 0.95)
    u = np.clip((c - lo) / max(hi - lo, 1e-9), 0.0, 1.0)
    return (radius + u * (max_radius - radius)).astype(np.int64)


def band_from_path(wp: np.ndarray, factor: int, N: int, M: int, radius: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Columns [lo[n], hi[n]] of each of the N rows of the finer level: the cells the coarser
    path ``wp`` covers, ``factor`` times finer, widened by ``radius`` (per path cell)."""
    lo = np.full(N, M, dtype=np.int64)
    hi = np.full(N, -1, dtype=np.int64)
    for (n, m), r in zip(wp.T, radius):
        r0, r1 = n * factor, min(N, (n + 1) * factor)
        c0, c1 = max(0, m * factor - r), min(M, (m + 1) * factor + r) - 1
        lo[r0:r1] = np.minimum(lo[r0:r1], c0)
        hi[r0:r1] = np.maximum(hi[r0:r1], c1)
    lo = np.minimum.accumulate(lo[::-1])[::-1]  # keep the band monotone and connected
    hi = np.maximum.accumulate(hi)
    lo[0] = 0
    hi[-1] = M - 1
    return lo, hi


def multiresolution_dtw(X: np.ndarray, Y: np.ndarray, *, X2: np.ndarray | None = None,
                        Y2: np.ndarray | None = None, weight2: float = 1.0,
                        coarse: tuple[np.ndarray, np.ndarray] | None = None,
                        step_weights: tuple[float, float, float] = STEP_WEIGHTS,
                        radius: int = RADIUS, max_radius: int = MAX_RADIUS,
                        max_coarse_cells: int = MAX_COARSE_CELLS) -> tuple[np.ndarray, np.ndarray]:
    """Align feature sequences X (d, N) and Y (d, M) by DTW, coarse to fine.

    The sequences are averaged down by powers of two until the coarsest cost matrix has at most
    ``max_coarse_cells`` cells; that level gets full DTW, each finer level DTW inside a band
    around the projected path, ``radius`` frames wide where the coarser path was sure and up to
    ``max_radius`` where its local cost was high. Memory and time grow linearly with length.

    Parameters
    ----------
    X, Y : np.ndarray [shape=(d, N)], [shape=(d, M)] features compared by cosine distance
    X2, Y2 : optional second features (e.g. onsets), adding ``weight2`` times their cosine
        distance at the finest levels
    coarse : optional smoother features (X, Y) used instead of X, Y at the levels coarser than
        the finest (e.g. CENS-like chroma, robust to local differences)
    step_weights : weights of the steps (0, 1), (1, 0), (1, 1)

    Returns
    -------
    wp : np.ndarray [shape=(2, L)] warping path from (0, 0) to (N-1, M-1)
    cost : np.ndarray [shape=(L,)] local cost along the path
    """
    if X.shape[0] != Y.shape[0]:
        raise ParameterError(f"feature dimensions differ: {X.shape[0]} vs {Y.shape[0]}")
    if X.shape[1] == 0 or Y.shape[1] == 0:
        raise ParameterError("cannot align an empty feature sequence")
    if radius < 1 or max_radius < radius:
        raise ParameterError(f"need 1 <= radius <= max_radius, got {radius} and {max_radius}")
    wh, wv, wd = (float(w) for w in step_weights)
    use2 = X2 is not None and Y2 is not None and weight2 > 0
    if not use2:
        X2, Y2 = np.zeros((1, X.shape[1])), np.zeros((1, Y.shape[1]))
    Xc, Yc = coarse if coarse is not None else (X, Y)
    factor = 1
    while (X.shape[1] / factor) * (Y.shape[1] / factor) > max_coarse_cells:
        factor *= 2
    wp, pc = None, None
    while factor >= 1:
        src_x, src_y = (X, Y) if factor == 1 else (Xc, Yc)
        Xf, Yf = downsample(src_x, factor).astype(np.float64), downsample(src_y, factor).astype(np.float64)
        on = use2 and factor <= ONSET_LEVELS
        X2f = downsample(X2, factor).astype(np.float64)
        Y2f = downsample(Y2, factor).astype(np.float64)
        N, M = Xf.shape[1], Yf.shape[1]
        if wp is None:
            lo, hi = np.zeros(N, dtype=np.int64), np.full(N, M - 1, dtype=np.int64)
        else:
            r = path_radius(pc, radius=radius, max_radius=max_radius, window=8)
            lo, hi = band_from_path(wp, 2, N, M, r)
        pn, pm, pc = _banded_dtw(Xf, Yf, X2f, Y2f, float(weight2) if on else 0.0, lo, hi, wh, wv, wd)
        wp = np.stack([pn, pm])
        factor //= 2
    return wp, pc


def coarse_cost(X: np.ndarray, Y: np.ndarray, *, factor: int | None = None,
                max_cells: int = MAX_COARSE_CELLS // 4) -> tuple[float, int]:
    """Full DTW of X (d, N) and Y (d, M) averaged down by ``factor`` (by default the smallest
    power of two that leaves at most ``max_cells`` cells): the summed local cost along the path
    (its total cost with unit step weights) and the factor — a quick comparison of two versions
    of one side against the other (at one factor)."""
    if factor is None:
        factor = 1
        while (X.shape[1] / factor) * (Y.shape[1] / factor) > max_cells:
            factor *= 2
    Xf, Yf = downsample(X, factor).astype(np.float64), downsample(Y, factor).astype(np.float64)
    N, M = Xf.shape[1], Yf.shape[1]
    _, _, pc = _banded_dtw(Xf, Yf, np.zeros((1, N)), np.zeros((1, M)), 0.0, np.zeros(N, dtype=np.int64),
                           np.full(N, M - 1, dtype=np.int64), 1.0, 1.0, 1.0)
    return float(pc.sum()), factor
