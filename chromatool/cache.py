"""A content-addressed cache of document features, safe to share between processes.

An entry is keyed by the file's content hash and the feature parameters, so a changed file is
recomputed and an unchanged one never is. Hashing a file is skipped while its size and mtime
match what was hashed before (a small index entry per path). Entries are written to a temporary
file and renamed into place, so concurrent writers cannot leave a half-written entry; an entry
that fails to load is treated as a miss and rewritten.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .io import atomic_write

_HASH_CHUNK = 1 << 20


def default_cache_dir() -> Path:
    """``$CHROMATOOL_CACHE`` or the XDG user cache folder (``~/.cache/chromatool``)."""
    env = os.environ.get("CHROMATOOL_CACHE")
    if env:
        return Path(env)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("chromatool"))


def params_key(params: dict[str, Any]) -> str:
    return hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]


class FeatureCache:
    """Features of files, computed once per (content, parameters)."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else default_cache_dir()
        self.hits = 0
        self.misses = 0

    def content_hash(self, path: Path) -> str:
        st = path.stat()
        stamp = {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
        idx = self.root / "index" / (hashlib.sha1(str(path.resolve()).encode()).hexdigest() + ".json")
        try:
            rec = json.loads(idx.read_text())
            if rec.get("stamp") == stamp:
                return str(rec["hash"])
        except (OSError, ValueError, KeyError):
            pass
        h = hashlib.blake2b(digest_size=20)
        with open(path, "rb") as f:
            while chunk := f.read(_HASH_CHUNK):
                h.update(chunk)
        digest = h.hexdigest()
        try:
            idx.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(idx, lambda f: json.dump({"stamp": stamp, "hash": digest}, f), mode="w")
        except OSError:
            pass  # a read-only cache still works, it just hashes again
        return digest

    def entry(self, path: Path, params: dict[str, Any]) -> Path:
        digest = self.content_hash(path)
        return self.root / params_key(params) / digest[:2] / f"{digest}.npy"

    def get(self, path: str | os.PathLike, params: dict[str, Any],
            compute: Callable[[], np.ndarray]) -> np.ndarray:
        """The cached array for ``path`` under ``params``, computing and storing it on a miss."""
        path = Path(path)
        entry = self.entry(path, params)
        if entry.exists():
            try:
                data = np.load(entry, allow_pickle=False)
                if data.ndim >= 2 and data.shape[-1] > 0 and np.all(np.isfinite(data)):
                    self.hits += 1
                    return data
            except (OSError, ValueError, EOFError):
                pass  # corrupt entry: recompute below
        self.misses += 1
        data = compute()
        try:
            entry.parent.mkdir(parents=True, exist_ok=True)
            params_file = entry.parent.parent / "params.json"
            if not params_file.exists():
                atomic_write(params_file, lambda f: json.dump(params, f, indent=2), mode="w")
            atomic_write(entry, lambda f: np.save(f, data))
        except OSError:
            pass  # caching is an optimisation: never fail the run over it
        return data
