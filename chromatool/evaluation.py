"""Evaluation measures: retrieval (top-K and mean reciprocal rank, Zalkow & Müller Table 4)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .errors import ChromatoolError

#: The top-K cut-offs of Table 4.
TOP_KS: tuple[int, ...] = (1, 5, 10, 20, 50)


def _key(name: str) -> str:
    """Files are matched by stem, so results and truth may use different folders."""
    return Path(name.strip()).stem


@dataclass
class RetrievalScores:
    per_query: list[dict]  # {"query", "rank" (None if not in the results), "top-K"..., "rr"}
    mean: dict[str, float]
    max_rank_listed: int


def read_results(path: str | Path) -> dict[str, dict[str, int]]:
    """{query: {doc: rank}} from a ``retrieve --format jsonl`` file."""
    out: dict[str, dict[str, int]] = {}
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as exc:
        raise ChromatoolError(f"{path}: cannot read results ({exc.strerror})") from exc
    for i, ln in enumerate(lines, start=1):
        if not ln.strip():
            continue
        try:
            rec = json.loads(ln)
            q, d, r = _key(rec["query"]), _key(rec["doc"]), int(rec["rank"])
        except (ValueError, KeyError, TypeError):
            raise ChromatoolError(f"{path}: line {i}: not a retrieve result (need query, doc, rank)") from None
        ranks = out.setdefault(q, {})
        ranks[d] = min(r, ranks.get(d, r))
    if not out:
        raise ChromatoolError(f"{path}: no results")
    return out


def read_truth(path: str | Path) -> dict[str, str]:
    """{query: relevant doc} from a CSV with columns query, doc."""
    from .io import read_csv_rows

    rows = read_csv_rows(path, ("query", "doc"), what="ground truth")
    return {_key(r["query"]): _key(r["doc"]) for r in rows}


def retrieval_scores(results: dict[str, dict[str, int]], truth: dict[str, str]) -> RetrievalScores:
    """Top-K hit rates and MRR over the queries in ``truth``; a relevant document missing from
    the results counts as not found (reciprocal rank 0)."""
    per = []
    listed = max((max(r.values()) for r in results.values() if r), default=0)
    for q, doc in sorted(truth.items()):
        rank = results.get(q, {}).get(doc)
        row: dict = {"query": q, "doc": doc, "rank": rank}
        for k in TOP_KS:
            row[f"top-{k}"] = float(rank is not None and rank <= k)
        row["rr"] = 1.0 / rank if rank else 0.0
        per.append(row)
    if not per:
        raise ChromatoolError("ground truth lists no queries")
    keys = [f"top-{k}" for k in TOP_KS] + ["rr"]
    mean = {("mrr" if k == "rr" else k): sum(r[k] for r in per) / len(per) for k in keys}
    mean["queries"] = len(per)
    return RetrievalScores(per, mean, listed)
