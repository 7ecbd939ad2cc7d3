"""Chroma shingles for a theme index (Zalkow, Brandner & Müller, Signals 2021).

A recording's features (d, M) at the retrieval feature rate are smoothed and downsampled to a
coarse index rate (CENS-like: each frame the mean of the unit-normalised frames around it), cut
into overlapping shingles of a few seconds, and each shingle is flattened, reduced by an SVD
fitted on the archive and normalised, so that the cosine of two shingles says how alike two
few-second passages are. A query is shingled the same way after its length is stretched by
several tempo factors, since a theme's notated tempo is rarely the recording's.

>>> import numpy as np
>>> from chromatool.shingles import shingle, downsample
>>> X = np.abs(np.random.default_rng(0).normal(size=(12, 500)))  # 20 s at 25 Hz
>>> downsample(X, factor=10).shape  # 2.5 frames per second
(12, 50)
>>> vectors, starts = shingle(downsample(X, factor=10), length=10, hop=2)
>>> vectors.shape, starts[:3]
((21, 120), array([0, 2, 4]))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import defaults as D
from .errors import ParameterError


def downsample(X: np.ndarray, *, factor: int = D.INDEX_DOWNSAMPLE) -> np.ndarray:
    """Unit-normalised frames averaged over a window of ``2 * factor`` frames and kept every
    ``factor``-th: (d, M) → (d, ceil(M / factor)), columns of unit length (zero on silence)."""
    from scipy.ndimage import uniform_filter1d

    if factor < 1:
        raise ParameterError(f"factor must be at least 1, got {factor}")
    X = np.asarray(X, dtype=np.float32)
    n = np.linalg.norm(X, axis=0, keepdims=True)
    U = np.where(n > 1e-8, X / np.maximum(n, 1e-8), 0.0)
    if factor > 1:
        U = uniform_filter1d(U, size=2 * factor, axis=1, mode="constant")
    Y = U[:, ::factor]
    m = np.linalg.norm(Y, axis=0, keepdims=True)
    return np.where(m > 1e-6, Y / np.maximum(m, 1e-6), 0.0).astype(np.float32)


def shingle(Y: np.ndarray, *, length: int = D.INDEX_SHINGLE, hop: int = D.INDEX_HOP
            ) -> tuple[np.ndarray, np.ndarray]:
    """Flattened shingles of ``length`` frames every ``hop`` frames of downsampled features
    ``Y`` (d, K): (vectors (n, d * length), start frames (n,)). Shingles that are silent for
    more than half their length are left out; a ``Y`` shorter than one shingle gives none."""
    if length < 1 or hop < 1:
        raise ParameterError(f"length and hop must be at least 1, got {length} and {hop}")
    d, K = Y.shape
    starts = np.arange(0, K - length + 1, hop)
    if len(starts) == 0:
        return np.zeros((0, d * length), np.float32), starts
    win = np.lib.stride_tricks.sliding_window_view(Y, length, axis=1)[:, starts]  # (d, n, length)
    voiced = (np.linalg.norm(win, axis=0) > 0.5).sum(axis=1) * 2 > length
    V = win.transpose(1, 2, 0).reshape(len(starts), length * d)  # frame-major: time then chroma
    return np.ascontiguousarray(V[voiced]), starts[voiced]


def stretch(Q: np.ndarray, factor: float) -> np.ndarray:
    """A query played ``factor`` times faster: (d, N) → (d, round(N / factor)), nearest frames."""
    n = max(1, int(round(Q.shape[1] / factor)))
    idx = np.minimum((np.arange(n) * factor).astype(np.int64), Q.shape[1] - 1)
    return Q[:, idx]


@dataclass(frozen=True)
class Projection:
    """Centre and principal axes (k, D) that reduce shingles to ``k`` dimensions."""

    mean: np.ndarray
    components: np.ndarray

    @classmethod
    def fit(cls, vectors: np.ndarray, *, dims: int = D.INDEX_DIMS, max_samples: int = 200_000,
            seed: int = 0) -> "Projection":
        """The leading singular vectors of at most ``max_samples`` shingles drawn at random
        (scikit-learn's TruncatedSVD: a PCA without centring, which keeps the cosine between a
        sparse melody shingle and a full texture meaningful; centring lost a tenth of the MRR on
        the retrieval set)."""
        from sklearn.decomposition import TruncatedSVD

        if len(vectors) < 2:
            raise ParameterError("need at least two shingles to fit the projection; are the recordings "
                                 "shorter than a shingle?")
        rng = np.random.default_rng(seed)
        if len(vectors) > max_samples:
            vectors = vectors[rng.choice(len(vectors), max_samples, replace=False)]
        k = int(min(dims, vectors.shape[1] - 1, len(vectors) - 1))
        svd = TruncatedSVD(n_components=max(1, k), random_state=seed).fit(vectors)
        return cls(np.zeros(vectors.shape[1], np.float32), svd.components_.astype(np.float32))

    def __call__(self, vectors: np.ndarray) -> np.ndarray:
        """Reduced, unit-length vectors (n, k) for the inner-product (cosine) search."""
        Z = (np.asarray(vectors, np.float32) - self.mean) @ self.components.T
        n = np.linalg.norm(Z, axis=1, keepdims=True)
        return (Z / np.maximum(n, 1e-8)).astype(np.float32)


def query_shingles(Q: np.ndarray, *, tempi: tuple[float, ...] = D.INDEX_TEMPI,
                   factor: int = D.INDEX_DOWNSAMPLE, length: int = D.INDEX_SHINGLE,
                   hop: int = D.INDEX_QUERY_HOP) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The shingles (every ``hop`` index frames) of a query (d, N) at the feature rate, played at each tempo factor:
    (vectors, index of the tempo factor of each, start frame of each at the index rate). A
    query too short for one shingle at a factor gives none at that factor."""
    out, which, where = [], [], []
    for k, t in enumerate(tempi):
        V, starts = shingle(downsample(stretch(Q, t), factor=factor), length=length, hop=hop)
        out.append(V)
        which.append(np.full(len(V), k))
        where.append(starts)
    return np.concatenate(out), np.concatenate(which), np.concatenate(where)
