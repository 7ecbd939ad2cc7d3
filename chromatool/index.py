"""A theme index for large archives: chroma shingles in an HNSW graph (usearch), memory-mapped.

An index is a folder (``archive.ctx``) holding

- ``index.json``: format version, the feature setting (kind, rate, tuning, model), the shingle
  setting, and the documents (path, frames, where their features are stored); written last, so
  an index is complete exactly when it names its files;
- ``projection-*.npz``: the truncated SVD fitted on the archive's shingles when it was built;
- ``graph-*.usearch``: the approximate-nearest-neighbour graph of the reduced shingles; a key is
  ``document << 24 | index frame``, so a hit maps back to a recording and a time;
- ``features-*.npy``: every document's features (float16) for the exact re-ranking, and
  ``coarse-*.npy`` the same at the index rate (the shingles' frames) for the coarse ranking.

Files are never rewritten in place: ``add`` writes new ones and then a new ``index.json``, so a
reader or a crash never sees a half-updated index. :mod:`chromatool.index_build` writes an
index, :mod:`chromatool.index_search` answers queries.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import ChromatoolError, ParameterError
from .shingles import Projection

#: Version of the folder layout; an index of another version must be rebuilt.
INDEX_FORMAT: int = 1
META = "index.json"
#: Bits of a key that hold the index frame (2^24 frames at 2.5 Hz: 77 days per recording).
FRAME_BITS: int = 24


def is_index(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a theme index folder."""
    return (Path(path) / META).is_file()


@dataclass
class IndexReport:
    """What ``build_index`` / ``add_to_index`` did."""

    path: Path
    added: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)  # already in the index: left as they are
    failures: list[tuple[str, str]] = field(default_factory=list)
    n_vectors: int = 0
    seconds: float = 0.0


class ThemeIndex:
    """An opened index. ``view=True`` memory-maps the graph and the features (for searching).

    >>> import tempfile, numpy as np
    >>> from chromatool import ThemeIndex
    >>> from chromatool.index_build import write_index
    >>> X = np.random.default_rng(0).random((12, 3000), dtype=np.float32)  # 2 minutes at 25 Hz
    >>> path = tempfile.mkdtemp() + "/demo.ctx"
    >>> _ = write_index(path, [[("a.wav", X), ("b.wav", X[::-1])]], fit_on=[X],
    ...                 params={"kind": "chroma", "feature_rate": 25.0})
    >>> ix = ThemeIndex(path)
    >>> ix.documents, ix.info()["vectors"], ix.features(1, 0, 100).shape
    (['a.wav', 'b.wav'], 292, (12, 100))
    """

    def __init__(self, path: str | os.PathLike, *, view: bool = True):
        from usearch.index import Index

        self.path = Path(path)
        if not is_index(self.path):
            raise ParameterError(f"index={str(path)!r} is not a chromatool index (no {META}); "
                                 "build one with `chromatool index build`")
        self.meta = json.loads((self.path / META).read_text())
        if self.meta.get("format") != INDEX_FORMAT:
            raise ChromatoolError(f"{self.path}: index format {self.meta.get('format')}, this chromatool "
                                  f"reads format {INDEX_FORMAT}; rebuild it with `chromatool index build`")
        p = np.load(self.path / self.meta["projection"])
        self.projection = Projection(p["mean"], p["components"])
        self.graph = Index.restore(str(self.path / self.meta["graph"]), view=view)
        self._parts = {name: np.load(self.path / name, mmap_mode="r") for name in self.meta["parts"]}
        self._coarse = {name: np.load(self.path / _coarse_name(name), mmap_mode="r") for name in self.meta["parts"]}

    @property
    def documents(self) -> list[str]:
        return [d["path"] for d in self.meta["docs"]]

    @property
    def feature_rate(self) -> float:
        return float(self.meta["features"]["feature_rate"])

    def features(self, doc: int, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Frames ``start:stop`` of document ``doc``'s features (d, n), float32."""
        d = self.meta["docs"][doc]
        stop = d["frames"] if stop is None else min(stop, d["frames"])
        start = max(0, start)
        part = self._parts[d["part"]]
        return np.asarray(part[:, d["offset"] + start:d["offset"] + stop], dtype=np.float32)

    def coarse(self, doc: int, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Frames ``start:stop`` (at the index rate) of document ``doc``'s index-rate features."""
        d = self.meta["docs"][doc]
        n = -(-d["frames"] // self.meta["shingles"]["downsample"])
        stop = n if stop is None else min(stop, n)
        start = max(0, start)
        part = self._coarse[d["part"]]
        return np.asarray(part[:, d["coarse_offset"] + start:d["coarse_offset"] + stop], dtype=np.float32)

    def info(self) -> dict:
        """Summary: documents, hours, vectors, the settings and the size on disk."""
        size = sum(f.stat().st_size for f in self.path.iterdir() if f.is_file())
        frames = sum(d["frames"] for d in self.meta["docs"])
        return {"path": str(self.path), "format": self.meta["format"], "documents": len(self.meta["docs"]),
                "hours": frames / self.feature_rate / 3600, "vectors": self.meta["n_vectors"],
                "bytes": size, "features": self.meta["features"], "shingles": self.meta["shingles"],
                "created": self.meta["created"], "updated": self.meta["updated"]}

    def check_features(self, params: dict) -> None:
        """Raise if ``params`` (a document feature setting) is not the index's."""
        mine = self.meta["features"]
        diff = [k for k in sorted(set(mine) | set(params)) if mine.get(k) != params.get(k)]
        if diff:
            shown = ", ".join(f"{k}={params.get(k)!r} (index: {mine.get(k)!r})" for k in diff)
            raise ParameterError(f"{self.path} was built with other features: {shown}")


def _coarse_name(part: str) -> str:
    return part.replace("features-", "coarse-", 1)
