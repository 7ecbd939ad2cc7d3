"""Theme retrieval through an index: approximate candidates, then today's exact ranking.

Each query's shingles, at every tempo factor (and every transposition with ``transpose``), look
up their nearest archive shingles in the graph. A document scores by its nearest shingle; the
``candidates`` best documents are re-ranked by the exact subsequence DTW of
:func:`chromatool.retrieval.rank`, run on the regions around their hits (twice the query's
length either side, the most a match can stretch), so hits, costs and times mean what they
mean for an exhaustive ``retrieve``.
"""

from __future__ import annotations

import os
import numpy as np

from . import defaults as D
from .errors import ParameterError
from .index import FRAME_BITS, ThemeIndex
from .retrieval import Hit, RetrievalResult, collect_queries, hit, match, query_chroma
from .shingles import downsample, query_shingles

class QueryTooShort(ParameterError):
    """A query shorter than one index shingle at every tempo factor."""


#: Best-supported starts of one document kept as re-ranking regions.
REGIONS_PER_DOC: int = 4
#: The vote stage proposes SHORTLIST x --candidates recordings; subsequence DTW at the index
#: rate keeps the --candidates best for the exact ranking.
SHORTLIST: int = 8
#: Width (index frames) of the bins in which query shingles vote for the query's start.
VOTE_BIN: int = 2


def candidates(ix: ThemeIndex, query: np.ndarray, *, n: int = D.INDEX_CANDIDATES,
               neighbours: int = D.INDEX_NEIGHBOURS, tempi: tuple[float, ...] = D.INDEX_TEMPI,
               transpose: bool = False) -> list[tuple[int, list[tuple[int, int]]]]:
    """The ``n`` most promising documents for a query chroma (12, N) at the index's feature
    rate, best first, each with its regions [start, stop) in feature frames.

    Each query shingle's neighbours vote, with their similarity above that of its k-th nearest,
    for where the whole query would start in their document at that tempo (and transposition);
    each query shingle votes once per start, and a document scores by its best-supported start,
    so a passage that several consecutive query shingles agree on beats one shingle that happens
    to be close."""
    s = ix.meta["shingles"]
    shifts = range(D.N_CHROMA) if transpose else (0,)
    parts = [query_shingles(np.roll(query, k, axis=0), tempi=tempi, factor=s["downsample"], length=s["length"])
             for k in shifts]
    V = np.concatenate([p[0] for p in parts])
    if not len(V):
        raise QueryTooShort(f"the query is {query.shape[1] / ix.feature_rate:.1f} s long, shorter than "
                             f"an index shingle at every tempo factor "
                             f"({s['length'] * s['downsample'] / ix.feature_rate:.1f} s); "
                             "it is searched exhaustively")
    group = np.concatenate([p[1] + k * len(tempi) for k, p in enumerate(parts)])  # (shift, tempo)
    qstart = np.concatenate([p[2] for p in parts])
    m = ix.graph.search(ix.projection(V), neighbours, threads=os.cpu_count() or 1)
    keys = np.asarray(m.keys).reshape(len(V), -1)
    sim = 1.0 - np.asarray(m.distances, dtype=np.float32).reshape(len(V), -1)
    found = np.arange(keys.shape[1])[None, :] < np.asarray(m.counts).reshape(-1, 1)
    sim = sim - np.where(found, sim, np.inf).min(axis=1, keepdims=True)  # above the k-th nearest
    row = np.broadcast_to(np.arange(len(V))[:, None], keys.shape)[found]
    keys, sim = keys[found].astype(np.uint64), np.maximum(sim[found], 0.0)
    doc = (keys >> np.uint64(FRAME_BITS)).astype(np.int64)
    start = (keys & np.uint64((1 << FRAME_BITS) - 1)).astype(np.int64) - qstart[row]  # index frames
    G = len(tempi) * len(shifts)
    found_d, found_s, found_at, found_k = [], [], [], []
    for shift_bin in (0, 1):  # two binnings of the start, half a bin apart
        b = (start + shift_bin) // VOTE_BIN
        key = (doc * G + group[row]) * 1_000_000 + (b + 500_000)
        pairs, which = np.unique(key * len(V) + row, return_inverse=True)  # (start bin, query shingle)
        vote = np.zeros(len(pairs))
        np.maximum.at(vote, which, sim)  # one vote per query shingle and bin: its best
        uniq, inv = np.unique(pairs // len(V), return_inverse=True)
        found_s.append(np.bincount(inv, weights=vote))
        found_d.append(uniq // 1_000_000 // G)
        found_k.append(uniq // 1_000_000 % G % len(tempi))
        found_at.append((uniq % 1_000_000 - 500_000) * VOTE_BIN - shift_bin)
    d_, s_, at_, k_ = (np.concatenate(x) for x in (found_d, found_s, found_at, found_k))
    order = np.lexsort((-s_, d_))  # by document, best-supported start first
    d_, s_, at_, k_ = d_[order], s_[order], at_[order], k_[order]
    docs_u, first = np.unique(d_, return_index=True)
    ranked = np.argsort(-s_[first], kind="stable")[:n]
    out = []
    shingle_frames = s["length"] * s["downsample"]
    for u in ranked:
        d, f = int(docs_u[u]), int(first[u])
        stop = min(f + REGIONS_PER_DOC, len(d_))
        spans = []
        for j in range(f, stop):
            if d_[j] != d:
                break
            length = query.shape[1] / tempi[int(k_[j])]  # the query at that tempo, in feature frames
            a = int(at_[j]) * s["downsample"] - int(0.5 * length) - shingle_frames
            spans.append((max(0, a), int(a + 2 * length) + 2 * shingle_frames))
        spans.sort()
        merged = [list(spans[0])]
        for a, b in spans[1:]:
            if a <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        out.append((d, [(a, min(b, ix.meta["docs"][d]["frames"])) for a, b in merged]))
    return out


def search_index(query_paths: list[str | os.PathLike], index: str | os.PathLike | ThemeIndex, *,
                 top: int = D.RETRIEVE_TOP_K, transpose: bool = False,
                 candidates_per_query: int = D.INDEX_CANDIDATES,
                 neighbours: int = D.INDEX_NEIGHBOURS, tempi: tuple[float, ...] = D.INDEX_TEMPI,
                 device: str = D.DEVICE) -> RetrievalResult:
    """Rank the index's recordings for each theme in ``query_paths``: the ``top`` best of the
    ``candidates_per_query`` documents the index proposes (at least ``top`` are proposed). A
    query shorter than one shingle at every tempo factor is matched against every recording.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np, soundfile as sf
    >>> from chromatool import build_index, search_index
    >>> from chromatool.render import synthesize
    >>> from chromatool.score import read_score
    >>> from music21 import corpus
    >>> d = tempfile.mkdtemp()
    >>> for name in ("bwv66.6", "bwv1.6"):
    ...     sf.write(os.path.join(d, name + ".wav"), synthesize(read_score(corpus.getWork("bach/" + name))), 22050)
    >>> ix = build_index([d], os.path.join(d, "archive.ctx"), tuning=0, cache_root=os.path.join(d, "cache")).path
    >>> theme = read_score(corpus.getWork("bach/bwv66.6")).top_voice()
    >>> theme = theme.select(np.arange(len(theme)) < 10)
    >>> query = os.path.join(d, "theme.csv")
    >>> rows = [f"{a};{b - a};{p}" for a, b, p in zip(theme.onset, theme.offset, theme.pitch)]
    >>> with open(query, "w") as f:
    ...     print("Start;Duration;Pitch", *rows, sep=chr(10), file=f)
    >>> [os.path.basename(h.doc) for h in search_index([query], ix).hits][:1]
    ['bwv66.6.wav']
    """
    if candidates_per_query < 1:
        raise ParameterError(f"candidates_per_query must be at least 1, got {candidates_per_query}")
    ix = index if isinstance(index, ThemeIndex) else ThemeIndex(index)
    rate = ix.feature_rate
    queries = [(str(p), query_chroma(p, feature_rate=rate)) for p in collect_queries(query_paths)]
    hits: list[Hit] = []
    for name, q in queries:
        n = max(candidates_per_query, top)
        try:
            cands = candidates(ix, q, n=n * SHORTLIST, neighbours=neighbours, tempi=tempi, transpose=transpose)
            cands = _coarse_rank(ix, q, cands, n, transpose=transpose)
        except QueryTooShort:  # no shingle to look up: every recording, whole (exhaustive)
            cands = [(d, [(0, doc["frames"])]) for d, doc in enumerate(ix.meta["docs"])]
        regions = [(d, a, ix.features(d, a, b)) for d, spans in cands for a, b in spans]
        if not regions:
            continue
        cost, shift, end = match([q], [X for _, _, X in regions], transpose=transpose, device=device)
        best: dict[int, int] = {}  # document → its best region
        for r in np.argsort(cost[0], kind="stable"):
            if np.isfinite(cost[0, r]):
                best.setdefault(regions[r][0], int(r))
        for k, (d, r) in enumerate(list(best.items())[:top], start=1):
            hits.append(hit((name, q), (ix.documents[d], regions[r][2]), rank=k, cost=cost[0, r],
                            shift=shift[0, r], end=end[0, r], feature_rate=rate, offset=regions[r][1]))
    return RetrievalResult(hits, [], len(ix.documents), len(ix.documents), 0, len(queries))


def _coarse_rank(ix: ThemeIndex, query: np.ndarray, cands: list, n: int, *, transpose: bool) -> list:
    """The ``n`` of ``cands`` whose regions best match the query by subsequence DTW on the
    index-rate features (a tenth of the frames each way: cheap for many regions), each with
    its best region only."""
    if len(cands) <= n:
        return cands
    factor = ix.meta["shingles"]["downsample"]
    q = downsample(query, factor=factor)
    regions = [(k, ix.coarse(d, a // factor, -(-b // factor))) for k, (d, spans) in enumerate(cands) for a, b in spans]
    cost, _, _ = match([q], [Y for _, Y in regions], transpose=transpose)
    best = np.full(len(cands), np.inf)
    where: dict[int, tuple[int, int]] = {}  # candidate → its best region, the one ranked exactly
    spans = [span for _, sp in cands for span in sp]
    for r in np.argsort(cost[0], kind="stable"):
        k = regions[r][0]
        if k not in where:
            where[k], best[k] = spans[r], cost[0, r]
    return [(cands[k][0], [where[k]]) for k in np.argsort(best, kind="stable")[:n] if k in where]
