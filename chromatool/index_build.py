"""Writing a theme index (:mod:`chromatool.index` describes the folder): building it from
recordings or from features, and adding recordings to it."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import numpy as np

from . import defaults as D
from .batch import Callback
from .errors import ChromatoolError, OutputError, ParameterError
from .index import FRAME_BITS, INDEX_FORMAT, META, IndexReport, ThemeIndex, _coarse_name
from .io import atomic_write
from .shingles import Projection, downsample, shingle


def _doc_shingles(X: np.ndarray, doc: int, s: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shingle vectors, their keys, and the index-rate features they were cut from."""
    Y = downsample(X, factor=s["downsample"])
    V, starts = shingle(Y, length=s["length"], hop=s["hop"])
    return V, (np.uint64(doc) << np.uint64(FRAME_BITS)) | starts.astype(np.uint64), Y


#: Recordings whose features are held in memory at once while an index is written.
CHUNK: int = 256


def _features(files: list[Path], *, kind, feature_rate, tuning, model, cache_root, device, jobs,
              on_done, scheduler, report: "IndexReport"):
    """(path, features) of each recording, CHUNK at a time; failures go to ``report``."""
    from .retrieval import document_features

    for c in range(0, len(files), CHUNK):
        part = files[c:c + CHUNK]
        cb = None if on_done is None else (lambda i, r, c=c: on_done(c + i, r))
        res = document_features(part, kind=kind, feature_rate=feature_rate, device=device,
                                cache_root=cache_root, jobs=jobs, model=model, on_done=cb,
                                tuning=tuning, scheduler=scheduler)
        out = []
        for p, r in zip(part, res):
            if isinstance(r, ChromatoolError):
                report.failures.append((str(p), str(r)))
            else:
                out.append((str(p), r[0].data))
        yield out


def feature_setting(kind: str, *, feature_rate: float | None = None, tuning: str | float = D.TUNING,
                    model: str | None = None, device: str = D.DEVICE) -> tuple[dict, str | None]:
    """The document feature setting (as the feature cache keys it) and the resolved model file."""
    from .retrieval import RETRIEVAL_FEATURES, DocFeatureTask

    if kind not in RETRIEVAL_FEATURES:
        raise ParameterError(f"features={kind!r} is unknown; choose one of {', '.join(RETRIEVAL_FEATURES)}")
    if kind == "embedding":
        raise ParameterError("features='embedding' (audio queries) is searched without an index: an index "
                             "answers symbolic themes")
    if kind in ("melody", "fused"):
        raise ParameterError(f"features={kind!r} is searched without an index: an index holds stft-chroma, "
                             "chroma, cens or deep features")
    digest = None
    if kind == "deep":
        from .deep import cached_model, model_digest

        lm = cached_model(model, device)
        feature_rate = float(lm.features["feature_rate"]) if feature_rate is None else feature_rate
        model, digest = lm.source, model_digest(lm.source)
    elif model is not None:
        raise ParameterError("model goes with features='deep'")
    feature_rate = D.FEATURE_RATE if feature_rate is None else float(feature_rate)
    return DocFeatureTask(Path(), kind, feature_rate, device, None, model, digest, tuning).params(), model


def build_index(doc_paths: list[str | os.PathLike], output: str | os.PathLike, *,
                features: str = D.INDEX_FEATURES, feature_rate: float | None = None,
                tuning: str | float = D.TUNING, model: str | None = None,
                cache_root: str | None = None, device: str = D.DEVICE, jobs: int = 1,
                overwrite: bool = False, dims: int = D.INDEX_DIMS, on_done: Callback | None = None,
                scheduler: str | None = None) -> IndexReport:
    """Build a theme index of the recordings in ``doc_paths`` (files or folders) at ``output``.

    Each recording's features come from the feature cache (computed on a miss, on ``jobs``
    processes or on the Dask cluster at ``scheduler``); the projection is fitted on shingles of up to
    500 recordings drawn at random.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np, soundfile as sf
    >>> from chromatool import build_index, ThemeIndex
    >>> d = tempfile.mkdtemp()
    >>> t = np.arange(22050 * 20) / 22050
    >>> for name, f0 in (("a", 220.0), ("b", 330.0)):  # two 20-s "recordings"
    ...     sf.write(os.path.join(d, name + ".wav"), 0.3 * np.sin(2 * np.pi * f0 * t * (1 + t / 40)), 22050)
    >>> rep = build_index([d], os.path.join(d, "archive.ctx"), features="chroma", tuning=0,
    ...                   cache_root=os.path.join(d, "cache"))
    >>> len(rep.added), ThemeIndex(rep.path).info()["documents"]
    (2, 2)
    """
    from .retrieval import collect_documents

    out = Path(output)
    if out.exists() and not overwrite:
        raise OutputError(f"{out}: exists (overwrite=True replaces it; `index add` adds recordings to it)")
    params, model = feature_setting(features, feature_rate=feature_rate, tuning=tuning, model=model,
                                    device=device)
    files = collect_documents(doc_paths)
    rep = IndexReport(out)
    kw = dict(kind=features, feature_rate=params["feature_rate"], tuning=tuning, model=model,
              cache_root=cache_root, device=device, jobs=jobs, scheduler=scheduler, report=rep)
    rng = np.random.default_rng(0)
    fit_on = sorted(rng.permutation(len(files))[:500]) if len(files) > 500 else range(len(files))
    fit = [X for c in _features([files[i] for i in fit_on], on_done=None, **kw) for _, X in c]
    rep.failures.clear()  # reported once, by the pass below
    t0 = time.perf_counter()
    write_index(out, _features(files, on_done=on_done, **kw), params=params, fit_on=fit, dims=dims,
                model=model, overwrite=overwrite, report=rep)
    rep.seconds = time.perf_counter() - t0
    return rep


def write_index(output: str | os.PathLike, chunks, *, params: dict, fit_on: list[np.ndarray],
                dims: int = D.INDEX_DIMS, model: str | None = None, overwrite: bool = False,
                report: IndexReport | None = None) -> IndexReport:
    """Write an index of features given directly: ``chunks`` yields lists of (name, (d, M)
    array) at ``params["feature_rate"]``; the projection is fitted on ``fit_on``. (For
    features chromatool did not compute, such as the synthetic archive of benchmarks/index.py.)"""
    out = Path(output)
    rep = report or IndexReport(out)
    if out.exists() and not overwrite:
        raise OutputError(f"{out}: exists (overwrite=True replaces it)")
    s = {"downsample": D.INDEX_DOWNSAMPLE, "length": D.INDEX_SHINGLE, "hop": D.INDEX_HOP}
    rng = np.random.default_rng(0)
    sample = []
    for X in fit_on:
        V = _doc_shingles(X, 0, s)[0]
        sample.append(V[rng.permutation(len(V))[:max(1, 200_000 // max(1, len(fit_on)))]])
    if not sample:
        raise ChromatoolError("no recording could be read: " + "; ".join(m for _, m in rep.failures[:3]))
    proj = Projection.fit(np.concatenate(sample), dims=dims)
    s["dims"] = int(proj.components.shape[0])
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    np.savez(tmp / "projection-0.npz", mean=proj.mean, components=proj.components)
    now = time.strftime("%Y-%m-%dT%H:%M:%S")
    meta = {"format": INDEX_FORMAT, "features": params, "model": model, "shingles": s,
            "projection": "projection-0.npz", "graph": "graph-0.usearch", "parts": [], "docs": [],
            "n_vectors": 0, "created": now, "updated": now}
    graph = _new_graph(s["dims"])
    for chunk in chunks:
        if chunk:
            meta = _append(tmp, meta, chunk, proj, graph)
            rep.added += [name for name, _ in chunk]
    if not meta["docs"]:
        shutil.rmtree(tmp)
        raise ChromatoolError("no recording could be read: " + "; ".join(m for _, m in rep.failures[:3]))
    graph.save(str(tmp / meta["graph"]))
    _write_meta(tmp, meta)
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    rep.n_vectors = meta["n_vectors"]
    return rep


def add_to_index(index: str | os.PathLike, doc_paths: list[str | os.PathLike], *,
                 cache_root: str | None = None, device: str = D.DEVICE, jobs: int = 1,
                 on_done: Callback | None = None, scheduler: str | None = None) -> IndexReport:
    """Add the recordings in ``doc_paths`` that the index does not hold yet (by path), with the
    index's feature setting and projection. Running it again after an interruption adds the rest.

    >>> import os, tempfile
    >>> import numpy as np, soundfile as sf
    >>> from chromatool import add_to_index, build_index
    >>> d = tempfile.mkdtemp()
    >>> t = np.arange(22050 * 20) / 22050
    >>> for name, f0 in (("a", 220.0), ("b", 330.0)):
    ...     sf.write(os.path.join(d, name + ".wav"), 0.3 * np.sin(2 * np.pi * f0 * t * (1 + t / 40)), 22050)
    >>> ix = os.path.join(d, "archive.ctx")
    >>> cache = os.path.join(d, "cache")
    >>> _ = build_index([os.path.join(d, "a.wav")], ix, features="chroma", tuning=0, cache_root=cache)
    >>> [os.path.basename(p) for p in add_to_index(ix, [d], cache_root=cache).added]  # a.wav is there
    ['b.wav']
    """
    from .retrieval import collect_documents

    ix = ThemeIndex(index, view=False)
    have = set(ix.documents)
    files = collect_documents(doc_paths)
    todo = [p for p in files if str(p) not in have]
    rep = IndexReport(ix.path, present=[str(p) for p in files if str(p) in have])
    if not todo:
        return rep
    t0 = time.perf_counter()
    f, old = ix.meta["features"], dict(ix.meta)
    meta = dict(ix.meta)
    for chunk in _features(todo, kind=f["kind"], feature_rate=f["feature_rate"], tuning=f["tuning"],
                           model=ix.meta.get("model"), cache_root=cache_root, device=device,
                           jobs=jobs, on_done=on_done, scheduler=scheduler, report=rep):
        if chunk:
            meta = _append(ix.path, meta, chunk, ix.projection, ix.graph)
            rep.added += [name for name, _ in chunk]
    if rep.added:
        meta["graph"] = f"graph-{len(meta['parts'])}.usearch"
        ix.graph.save(str(ix.path / meta["graph"]))
        meta["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        _write_meta(ix.path, meta)
        (ix.path / old["graph"]).unlink(missing_ok=True)
    rep.n_vectors, rep.seconds = meta["n_vectors"] - old["n_vectors"], time.perf_counter() - t0
    return rep


def _new_graph(dims: int):
    from usearch.index import Index

    return Index(ndim=dims, metric="ip", dtype="f16", connectivity=16, expansion_add=40)


def _append(root: Path, meta: dict, chunk: list[tuple[str, np.ndarray]], proj: Projection,
            graph) -> dict:
    """Write a features part for ``chunk`` and add its shingles to ``graph``; return the new meta."""
    s = meta["shingles"]
    part = f"features-{len(meta['parts'])}.npy"
    first = len(meta["docs"])
    offsets = np.concatenate([[0], np.cumsum([X.shape[1] for _, X in chunk])]).astype(int)
    total = np.empty((chunk[0][1].shape[0], int(offsets[-1])), dtype=np.float16)
    vectors, keys, coarse = [], [], []
    for j, (_, X) in enumerate(chunk):
        total[:, offsets[j]:offsets[j + 1]] = X
        V, k, Y = _doc_shingles(X, first + j, s)
        vectors.append(proj(V) if len(V) else V[:, :s["dims"]])
        keys.append(k)
        coarse.append(Y.astype(np.float16))
    c_offsets = np.concatenate([[0], np.cumsum([Y.shape[1] for Y in coarse])]).astype(int)
    n_vectors = sum(len(k) for k in keys)
    if n_vectors:
        graph.add(np.concatenate(keys), np.concatenate(vectors), threads=os.cpu_count() or 1)
    atomic_write(root / part, lambda f: np.save(f, total))
    atomic_write(root / _coarse_name(part), lambda f: np.save(f, np.concatenate(coarse, axis=1)))
    docs = [{"path": p, "frames": int(X.shape[1]), "part": part, "offset": int(offsets[j]),
             "coarse_offset": int(c_offsets[j])} for j, (p, X) in enumerate(chunk)]
    return {**meta, "parts": meta["parts"] + [part], "docs": meta["docs"] + docs,
            "n_vectors": meta["n_vectors"] + n_vectors}


def _write_meta(root: Path, meta: dict) -> None:
    from . import __version__

    meta = {**meta, "chromatool": __version__}
    atomic_write(root / META, lambda f: json.dump(meta, f, indent=1), mode="w")
