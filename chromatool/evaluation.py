"""Evaluation measures: retrieval (top-K and mean reciprocal rank, Zalkow & Müller Table 4) and
frame-level multi-pitch estimation (mir_eval's multipitch metrics)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from . import defaults as D
from .defaults import PITCH_THRESHOLD
from .errors import ChromatoolError, ParameterError

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


def read_notes(path: str | Path):
    """Reference notes in recording time: a label CSV (chromatool or MusicNet) or a performance
    MIDI file."""
    from .labels import read_labels
    from .score import read_score

    return read_labels(path) if Path(path).suffix.lower() == ".csv" else read_score(path)


def multipitch_scores(activation, notes, *, feature_rate: float, threshold: float = PITCH_THRESHOLD,
                      midi_min: int | None = None) -> dict[str, float]:
    """mir_eval multipitch metrics of thresholded semitone activations (n_semitones, N) against
    reference notes, frame by frame at the activations' rate; F = 2PR / (P + R)."""
    import mir_eval
    import numpy as np

    from . import defaults as D

    midi_min = D.MIDI_MIN if midi_min is None else midi_min
    n_pitch, n = activation.shape
    ref = notes.piano_roll(feature_rate=feature_rate, n_frames=n, midi_min=midi_min, n_pitches=n_pitch)
    times = np.arange(n) / feature_rate
    hz = 440.0 * 2.0 ** ((np.arange(n_pitch) + midi_min - 69) / 12)

    def freqs(mask):
        return [hz[np.flatnonzero(col)] for col in mask.T]

    m = mir_eval.multipitch.evaluate(times, freqs(ref > 0), times, freqs(activation >= threshold))
    p, r = float(m["Precision"]), float(m["Recall"])
    f = 2 * p * r / (p + r) if p + r > 0 else 0.0
    return {"precision": p, "recall": r, "f": f, "accuracy": float(m["Accuracy"]),
            "frames": int(n), "ref_notes": int((ref > 0).sum()), "est_notes": int((activation >= threshold).sum())}


def pooled_f(rows: list[dict]) -> dict[str, float]:
    """Precision / recall / F over all frames of all files (weighted by notes)."""
    tp = sum(r["recall"] * r["ref_notes"] for r in rows)
    ref = sum(r["ref_notes"] for r in rows)
    est = sum(r["est_notes"] for r in rows)
    p = tp / est if est else 0.0
    r = tp / ref if ref else 0.0
    return {"precision": p, "recall": r, "f": 2 * p * r / (p + r) if p + r else 0.0}


def pitch_evaluation_pairs(inputs: list[str]) -> list[tuple[Path, Path]]:
    """(audio, reference notes) pairs from ``[AUDIO, LABELS, AUDIO, LABELS, ...]`` or
    ``[MANIFEST.csv]`` (columns audio,labels; relative paths from the manifest's folder)."""
    from .io import read_csv_rows

    if len(inputs) >= 2 and len(inputs) % 2 == 0:
        pairs = [(Path(a), Path(b)) for a, b in zip(inputs[::2], inputs[1::2])]
    elif len(inputs) == 1:
        base = Path(inputs[0]).parent
        rows = read_csv_rows(inputs[0], ("audio", "labels"), what="evaluation manifest")
        pairs = [(base / r["audio"], base / r["labels"]) for r in rows]
    else:
        raise ParameterError(f"got {len(inputs)} paths: give pairs AUDIO LABELS [AUDIO LABELS ...] "
                             "or one manifest CSV with audio,labels columns")
    for a, b in pairs:
        for p in (a, b):
            if not p.is_file():
                raise ChromatoolError(f"{p}: no such file")
    return pairs


def evaluate_pitch(pairs: list[tuple[Path, Path]], lm, *, threshold: float = PITCH_THRESHOLD,
                   device: str = D.DEVICE, tuning: str | float = D.TUNING, on_done=None) -> list[dict]:
    """Run a multipitch model on each recording as ``extract`` does (``tuning="auto"``: each
    recording's deviation from A440 estimated and the filters centred on it) and score it
    against its notes."""
    return evaluate_pitch_thresholds(pairs, lm, thresholds=(threshold,), device=device, tuning=tuning,
                                     on_done=on_done)[threshold]


def evaluate_pitch_thresholds(pairs: list[tuple[Path, Path]], lm, *, thresholds: Sequence[float],
                              device: str = D.DEVICE, tuning: str | float = D.TUNING,
                              on_done=None) -> dict[float, list[dict]]:
    """:func:`evaluate_pitch` at several thresholds from one run of the model: each threshold's
    rows (a threshold sweep, e.g. to choose one on a tuning set)."""
    from .audio import load_audio
    from .deep import deep_features

    if not thresholds:
        raise ParameterError("thresholds: give at least one")
    out: dict[float, list[dict]] = {t: [] for t in thresholds}
    for i, (audio, labels) in enumerate(pairs):
        f = deep_features(load_audio(audio, sr=int(lm.features["sr"])), lm, output="pitch", device=device,
                          tuning=tuning)
        notes = read_notes(labels)
        for t in thresholds:
            out[t].append({"audio": str(audio), "labels": str(labels), "tuning": float(f.params["tuning"]),
                           **multipitch_scores(f.data, notes, feature_rate=f.feature_rate, threshold=t)})
        if on_done:
            on_done(i, out[thresholds[0]][-1])
    return out
