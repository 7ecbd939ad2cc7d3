"""Theme retrieval (Zalkow & Müller 2020, §4.2): rank recordings for symbolic theme queries.

Query → binary chroma at the feature rate from the theme's own tempo; documents → features
(cached); subsequence DTW with cosine distance, steps (2,1), (1,2), (1,1) weighted 2, 1, 1; a
document's score is the minimum of its matching function (normalised by query length); the
matched segment is backtracked for the reported hits only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from . import defaults as D
from .audio import AUDIO_EXTENSIONS
from .batch import Callback
from .doc_features import MODEL_FEATURES, DocFeatureTask, FusedDocTask, document_features, fused_parts  # noqa: F401
from .errors import ChromatoolError, ParameterError
from .io import collect_files
from .score import SCORE_EXTENSIONS, read_score

#: Document features ``retrieve`` can match against (``deep``: a ctc-chroma model's chroma, the
#: packaged one unless a model is given; ``melody``: the top line of a multipitch model's
#: salience, :mod:`chromatool.melody`; ``fused``: the packaged deep chromas and the melody
#: chroma, their DTW costs mixed, ``defaults.FUSED_PARTS``).
RETRIEVAL_FEATURES: tuple[str, ...] = ("chroma", "cens", "stft-chroma", "deep", "melody", "fused", "embedding")




@dataclass(frozen=True)
class Hit:
    """One ranked document for one query; times in seconds."""

    query: str
    rank: int
    doc: str
    cost: float
    start: float
    end: float
    transposition: int

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class RetrievalResult:
    hits: list[Hit]
    skipped: list[tuple[str, str]]  # (document, reason)
    n_docs: int
    cache_hits: int
    cache_misses: int
    n_queries: int = 0
    unmatched: list[tuple[str, str]] = field(default_factory=list)  # (document, reason)


def query_chroma(path: str | Path, *, feature_rate: float = D.FEATURE_RATE) -> np.ndarray:
    """Binary chroma (12, N) of a theme at its own tempo."""
    notes = read_score(path)
    return notes.chroma(feature_rate=feature_rate)


def collect_queries(paths: list[str | Path]) -> list[Path]:
    files = [p for p, _ in collect_files(paths, SCORE_EXTENSIONS)]
    if not files:
        raise ChromatoolError("no query files found in " + ", ".join(str(p) for p in paths))
    return files


def collect_documents(paths: list[str | Path]) -> list[Path]:
    files = [p for p, _ in collect_files(paths, AUDIO_EXTENSIONS)]
    if not files:
        raise ChromatoolError("empty database: no audio files in " + ", ".join(str(p) for p in paths))
    return files


def match(queries: list[np.ndarray], docs: list[np.ndarray], *, transpose: bool = False,
          device: str = D.DEVICE, fused: list[tuple[list[np.ndarray], float]] = ()) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every query against every document: (cost, shift, end), each (n_queries, n_docs) — the
    best subsequence-DTW cost over the chroma shifts tried (all 12 with ``transpose``), the
    shift (semitones added to the query) that gave it, and the document frame where it ends.
    ``fused``: (the same documents' other features, weight) pairs: the cost is then the weighted
    sum of each feature's cost at the same shift (``docs`` with weight 1 minus the others'), the
    end that of ``docs``."""
    from .dtw import match_queries  # numba: imported when there is work

    shifts = list(range(D.N_CHROMA)) if transpose else [0]
    expanded = [np.roll(q, s, axis=0) for q in queries for s in shifts]

    def costs(features: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        if device == "cpu":
            c, e = match_queries(expanded, features)
        else:
            from .dtw_torch import match_queries_torch

            c, e = match_queries_torch(expanded, features, device=device)
        return c.reshape(len(queries), len(shifts), len(docs)), e.reshape(len(queries), len(shifts), len(docs))

    cost, end = costs(docs)
    if fused:
        cost = cost * (1.0 - sum(w for _, w in fused)) + sum(w * costs(other)[0] for other, w in fused)
    best = np.argmin(cost, axis=1)  # (n_queries, n_docs)
    pick = lambda a: np.take_along_axis(a, best[:, None, :], axis=1)[:, 0]  # noqa: E731
    return pick(cost), np.asarray(shifts)[best], pick(end)


def hit(query: tuple[str, np.ndarray], doc: tuple[str, np.ndarray], *, rank: int, cost: float,
        shift: int, end: int, feature_rate: float = D.FEATURE_RATE, offset: int = 0) -> Hit:
    """The :class:`Hit` of a match found by :func:`match` (backtracked to find where it starts);
    ``offset``: frames of the recording before ``doc`` (a region of it)."""
    from .dtw import locate_match

    _, _, (a, b) = locate_match(np.roll(query[1], shift, axis=0), doc[1], int(end))
    return Hit(query=query[0], rank=rank, doc=doc[0], cost=float(cost), start=float((a + offset) / feature_rate),
               end=float((b + 1 + offset) / feature_rate), transposition=int(shift if shift <= 6 else shift - 12))


def rank(queries: list[tuple[str, np.ndarray]], docs: list[tuple[str, np.ndarray]], *,
         top: int = D.RETRIEVE_TOP_K, transpose: bool = False,
         feature_rate: float = D.FEATURE_RATE, device: str = D.DEVICE,
         fused: list[tuple[list[np.ndarray], float]] = ()) -> list[Hit]:
    """Rank documents for each query by subsequence-DTW cost.

    Parameters
    ----------
    queries : (name, chroma (12, N)) pairs
    docs : (name, features (12, M)) pairs
    transpose : also try the 11 other chroma shifts of each query and keep each document's best;
        a hit's ``transposition`` is the shift (semitones, -5..6) to add to the query to match
    fused : other features of the same documents with the weights of their costs (:func:`match`)

    Returns
    -------
    hits : the ``top`` best documents per query, in query order then rank order
    """
    if top < 1:
        raise ParameterError(f"top must be at least 1, got {top}")
    if not docs:
        raise ChromatoolError("empty database: no documents could be read")
    cost, shift, end = match([q for _, q in queries], [x for _, x in docs], transpose=transpose, device=device,
                             fused=fused)
    hits = []
    for qi, query in enumerate(queries):
        order = np.argsort(cost[qi], kind="stable")[:top]
        for r, j in enumerate(order, start=1):
            if not np.isfinite(cost[qi, j]):
                break  # document shorter than any match
            hits.append(hit(query, docs[j], rank=r, cost=cost[qi, j], shift=shift[qi, j], end=end[qi, j],
                            feature_rate=feature_rate))
    return hits


def retrieve(query_paths: list[str | Path], doc_paths: list[str | Path], *,
             features: str = D.RETRIEVE_FEATURES, top: int = D.RETRIEVE_TOP_K,
             transpose: bool = False, feature_rate: float | None = None,
             cache_root: str | None = None, device: str = D.DEVICE, jobs: int = 1,
             strict: bool = False, model: str | None = None,
             on_done: Callback | None = None, tuning: str | float = D.TUNING,
             precision: str = D.INFERENCE_PRECISION) -> RetrievalResult:
    """Rank the recordings in ``doc_paths`` for each theme in ``query_paths``.

    ``model`` (with ``features="deep"``): a ctc-chroma model name or file; the packaged one
    by default (with ``features="fused"``: in place of the packaged deep chromas). Deep
    features come at the model's feature rate. ``features="embedding"`` matches audio against
    audio: the queries are recordings (excerpts), embedded like the
    documents by an embedding model (default: the packaged cross-version one). ``tuning``:
    each recording's deviation from A440 in cents, or "auto" to estimate it per recording.
    ``precision``: the deep chroma network's arithmetic (see :func:`chromatool.deep.deep_features`).

    Examples
    --------
    >>> import os, tempfile
    >>> import soundfile as sf
    >>> from music21 import corpus
    >>> from chromatool import read_score, retrieve
    >>> from chromatool.render import synthesize
    >>> d = tempfile.mkdtemp()
    >>> for name in ("bwv66.6", "bwv1.6"):  # a small "archive" of two recordings
    ...     sf.write(os.path.join(d, name + ".wav"), synthesize(read_score(corpus.getWork("bach/" + name))), 22050)
    >>> import numpy as np
    >>> theme = read_score(corpus.getWork("bach/bwv66.6")).top_voice()
    >>> theme = theme.select(np.arange(len(theme)) < 8)  # the first eight notes of the soprano
    >>> query = os.path.join(d, "theme.csv")  # an MTD-style note list
    >>> rows = [f"{a};{b - a};{p}" for a, b, p in zip(theme.onset, theme.offset, theme.pitch)]
    >>> with open(query, "w") as f:
    ...     print("Start;Duration;Pitch", *rows, sep=chr(10), file=f)
    >>> res = retrieve([query], [d], tuning=0, cache_root=os.path.join(d, "cache"))
    >>> [(os.path.basename(h.doc), h.rank) for h in res.hits]
    [('bwv66.6.wav', 1), ('bwv1.6.wav', 2)]
    """
    if features not in RETRIEVAL_FEATURES:
        raise ParameterError(f"features={features!r} is unknown; choose one of {', '.join(RETRIEVAL_FEATURES)}")
    first = "deep" if features == "fused" else features  # ``model`` is the fused features' deep chroma's
    if first in MODEL_FEATURES:
        from .deep import cached_model

        lm = cached_model(model, device, MODEL_FEATURES[first])
        needs = {"embedding": "embedding", "melody": "multipitch"}.get(first)  # deep: any chroma model
        if lm.arch != needs if needs else lm.arch in ("embedding", "multipitch"):
            raise ParameterError(f"features={features!r} needs a {needs or 'chroma'} model; {lm.source} is {lm.arch}")
        if features == "embedding" and transpose:
            raise ParameterError("transpose=True goes with chroma features, not features='embedding'")
        if feature_rate is None:
            feature_rate = float(lm.features["feature_rate"])  # deep features come at the model's rate
        if abs(float(lm.features["feature_rate"]) - feature_rate) > 1e-9:
            raise ParameterError(f"the model works at {lm.features['feature_rate']:g} frames per second; "
                                 f"use feature_rate={lm.features['feature_rate']:g} with features={features!r}")
        if model is not None or features != "fused":  # fused without a model: its packaged parts
            model = lm.source
    elif model is not None:
        raise ParameterError("model goes with features='deep', 'melody', 'fused' or 'embedding'")
    feature_rate = D.FEATURE_RATE if feature_rate is None else feature_rate
    if features == "embedding":  # audio queries, embedded as the documents are
        qfiles = collect_documents(query_paths)
        got = document_features(qfiles, kind=features, feature_rate=feature_rate, device=device,
                                cache_root=cache_root, jobs=jobs, model=model, tuning=tuning)
        for r in got:
            if isinstance(r, ChromatoolError):
                raise r
        queries = [(str(p), r[0].data) for p, r in zip(qfiles, got)]
    else:
        audio = [p for p in query_paths if Path(p).suffix.lower() in AUDIO_EXTENSIONS]
        if audio:
            raise ParameterError(f"query {audio[0]} is a recording: audio queries go with "
                                 f"features='embedding', not features={features!r}")
        qfiles = collect_queries(query_paths)
        queries = [(str(p), query_chroma(p, feature_rate=feature_rate)) for p in qfiles]
    dfiles = collect_documents(doc_paths)
    parts = fused_parts(model) if features == "fused" else [(features, model, 1.0)]
    results = document_features(dfiles, kind=features, feature_rate=feature_rate, device=device, cache_root=cache_root,
                                jobs=jobs, model=model, on_done=on_done, tuning=tuning, precision=precision)
    docs, others, skipped = [], [[] for _ in parts[1:]], []
    n_hits = 0
    for p, rs in zip(dfiles, results):
        if isinstance(rs, ChromatoolError):
            if strict:
                raise rs
            skipped.append((str(p), str(rs)))
            continue
        rs = rs if features == "fused" else [rs]
        if abs(rs[0][0].feature_rate - feature_rate) > 1e-9:  # queries and documents share one rate
            raise ParameterError(f"{p}: features at {rs[0][0].feature_rate:g} Hz, queries at {feature_rate:g} Hz")
        docs.append((str(p), rs[0][0].data))
        for store, r in zip(others, rs[1:]):
            store.append(r[0].data)
        n_hits += all(r[1] for r in rs)  # a document from the cache: every feature it needs
    hits = rank(queries, docs, top=top, transpose=transpose, feature_rate=feature_rate, device=device,
                fused=[(store, w) for store, (_, _, w) in zip(others, parts[1:])])
    return RetrievalResult(hits, skipped, len(dfiles), n_hits, len(docs) - n_hits, len(queries),
                           unmatched_documents(queries, docs, feature_rate=feature_rate))


def unmatched_documents(queries: list[tuple[str, np.ndarray]], docs: list[tuple[str, np.ndarray]], *,
                        feature_rate: float = D.FEATURE_RATE) -> list[tuple[str, str]]:
    """Documents too short for some query: the steps advance the document by at most two frames
    per query frame, so an N-frame query needs ceil(N / 2) frames of recording."""
    longest = max(q.shape[1] for _, q in queries)
    need = int(np.ceil(longest / max(s[1] for s in D.DTW_STEP_SIZES)))
    return [(name, f"{name}: {x.shape[1] / feature_rate:.1f} s is shorter than the longest query can "
                   f"match ({need / feature_rate:.1f} s); left out of its ranking")
            for name, x in docs if x.shape[1] < need]
