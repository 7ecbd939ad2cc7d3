"""Probing frozen embeddings, as in Krause, Weiß & Müller's poster: a small downstream classifier
(scikit-learn's MLP) trained on the embeddings of one split of recordings and tested on the
other, for instrument-family activity (the GM families of the notes sounding) and for pitch
classes; average precision, ROC AUC and F1 (macro over the classes present in both splits).

A supervised reference is the same classifier on the input itself (the log-HCQT averaged over
the embedding's excerpt length), trained with the labels: what labels buy without a pretext task.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import defaults as D
from .errors import ParameterError
from .manifests import Item

#: Seconds between the frames a probe is trained and tested on.
PROBE_HOP: float = 0.5
#: GM families (program // 8) named as General MIDI names them.
GM_FAMILY_NAMES: tuple[str, ...] = ("piano", "chromatic perc.", "organ", "guitar", "bass", "strings", "ensemble",
                                    "brass", "reed", "pipe", "synth lead", "synth pad", "synth fx", "ethnic",
                                    "percussive", "sound fx")
TASKS: tuple[str, ...] = ("instruments", "pitch classes")


@dataclass
class ProbeResult:
    """AP, AUC and F1 of each task for one representation: the mean over the splits probed and,
    with more than one split, their standard deviation (``spread``)."""

    name: str
    scores: dict[str, dict[str, float]]  # task → {"AP", "AUC", "F1"}
    spread: dict[str, dict[str, float]] = field(default_factory=dict)  # task → metric → std over splits
    runs: list[dict[str, dict[str, float]]] = field(default_factory=list)  # each split's scores


def frame_labels(item: Item, times: np.ndarray) -> dict[str, np.ndarray]:
    """(n_times, 16) instrument-family and (n_times, 12) pitch-class activity of a labelled
    recording at ``times`` (seconds)."""
    n = item.notes
    if n is None:
        raise ParameterError(f"{item.audio}: the probe needs note labels (a labels column in the manifest)")
    on = (n.onset[None, :] <= times[:, None]) & (times[:, None] < n.offset[None, :])  # (T, notes)
    fam = np.zeros((len(times), 16), bool)
    pc = np.zeros((len(times), D.N_CHROMA), bool)
    for j in range(len(n)):
        rows = on[:, j]
        if int(n.program[j]) >= 0:
            fam[rows, int(n.program[j]) // 8] = True
        pc[rows, int(n.pitch[j]) % D.N_CHROMA] = True
    return {"instruments": fam, "pitch classes": pc}


def representation(item: Item, model: str | None, *, device: str = D.DEVICE) -> tuple[np.ndarray, float]:
    """(n_frames, d) features of a recording and their rate: a model's embeddings, or with
    ``model`` None the log-HCQT (harmonic 1) averaged over the default embedding context."""
    from .audio import load_audio

    if model is not None:
        from .deep import extract

        f = extract(item.audio, model=model, kind="embedding", tuning=0, device=device)
        return f.data.T, f.feature_rate
    from scipy.ndimage import uniform_filter1d

    from .deep import feature_config, input_hcqt
    from .embedding import EmbeddingConfig

    feats = feature_config()
    H = input_hcqt(load_audio(item.audio, sr=int(feats["sr"])), feats)[1]  # (bins, frames)
    return uniform_filter1d(H, EmbeddingConfig.context, axis=1).T, float(feats["feature_rate"])


def _frames(item: Item, model: str | None, device: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    F, rate = representation(item, model, device=device)
    times = np.arange(0, len(F) / rate, PROBE_HOP)
    return F[np.minimum((times * rate).astype(int), len(F) - 1)], frame_labels(item, times)


def _stack(frames: list[tuple[np.ndarray, dict[str, np.ndarray]]]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    return np.concatenate([x for x, _ in frames]), {t: np.concatenate([y[t] for _, y in frames]) for t in TASKS}


def _scores(train, test, seed: int) -> dict[str, dict[str, float]]:
    from sklearn.metrics import average_precision_score, f1_score, roc_auc_score
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import StandardScaler

    (Xtr, Ytr), (Xte, Yte) = _stack(train), _stack(test)
    scaler = StandardScaler().fit(Xtr)
    scores = {}
    for task in TASKS:
        keep = Ytr[task].any(0) & Yte[task].any(0) & ~Yte[task].all(0) & ~Ytr[task].all(0)
        if not keep.any():
            raise ParameterError(f"no {task} class is both present and absent in both splits")
        clf = MLPClassifier(hidden_layer_sizes=(128,), max_iter=300, early_stopping=True, random_state=seed)
        clf.fit(scaler.transform(Xtr), Ytr[task][:, keep])
        P = clf.predict_proba(scaler.transform(Xte))
        y = Yte[task][:, keep]
        scores[task] = {"AP": float(average_precision_score(y, P, average="macro")),
                        "AUC": float(roc_auc_score(y, P, average="macro")),
                        "F1": float(f1_score(y, P >= 0.5, average="macro", zero_division=0))}
    return scores


def probe(train: list[Item], test: list[Item], models: dict[str, str | None], *,
          device: str = D.DEVICE, seed: int = 0) -> list[ProbeResult]:
    """Train and test a probe per representation (name → model file, None: the supervised
    reference on the HCQT) and task; returns AP, AUC and F1 (threshold 0.5) per task."""
    return probe_splits([(train, test)], models, device=device, seed=seed)


def probe_splits(splits: list[tuple[list[Item], list[Item]]], models: dict[str, str | None], *,
                 device: str = D.DEVICE, seed: int = 0) -> list[ProbeResult]:
    """:func:`probe` on each (train, test) split of the same recordings (each recording's
    features computed once), averaged: a probe learns each instrument family from a few pieces,
    so one split's figures move by a few hundredths with the split; the mean over several is
    steadier and the standard deviation says how much.

    >>> probe_splits([], {"x": None})
    Traceback (most recent call last):
    ...
    chromatool.errors.ParameterError: splits: the probe needs at least one (train, test) split
    """
    if not splits:
        raise ParameterError("splits: the probe needs at least one (train, test) split")
    if any(not tr or not te for tr, te in splits):
        raise ParameterError("the probe needs recordings in both splits")
    out = []
    for name, model in models.items():
        cache: dict[str, tuple[np.ndarray, dict[str, np.ndarray]]] = {}

        def frames(items: list[Item]) -> list[tuple[np.ndarray, dict[str, np.ndarray]]]:
            for it in items:
                if str(it.audio) not in cache:
                    cache[str(it.audio)] = _frames(it, model, device)
            return [cache[str(it.audio)] for it in items]

        runs = [_scores(frames(tr), frames(te), seed) for tr, te in splits]
        mean = {t: {m: float(np.mean([r[t][m] for r in runs])) for m in runs[0][t]} for t in TASKS}
        std = {t: {m: float(np.std([r[t][m] for r in runs])) for m in runs[0][t]} for t in TASKS} if len(runs) > 1 else {}
        out.append(ProbeResult(name, mean, std, runs))
    return out


def split_items(items: list[Item], *, fraction: float = 0.5, seed: int = 0) -> tuple[list[Item], list[Item]]:
    """Recordings split by piece group: no piece on both sides."""
    from .manifests import split_by_group

    return split_by_group(items, fraction, seed)


def repeated_splits(items: list[Item], n: int, *, fraction: float = 0.5, seed: int = 0) -> list[tuple[list[Item], list[Item]]]:
    """``n`` random splits by piece group (seeds ``seed`` … ``seed + n - 1``), for :func:`probe_splits`."""
    if n < 1:
        raise ParameterError(f"splits: must be at least 1, got {n}")
    return [split_items(items, fraction=fraction, seed=seed + k) for k in range(n)]


def plot_self_similarity(item: Item, models: dict[str, str], path: str | Path, *, device: str = D.DEVICE) -> Path:
    """Self-similarity matrices of one recording under each model's embedding, side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .io import atomic_write

    fig, axes = plt.subplots(1, len(models), figsize=(5 * len(models), 5), squeeze=False)
    for ax, (name, model) in zip(axes[0], models.items()):
        F, rate = representation(item, model, device=device)
        seconds = len(F) / rate
        F = F[:: max(1, len(F) // 1000)]
        F = F / np.maximum(np.linalg.norm(F, axis=1, keepdims=True), 1e-8)
        ax.imshow(F @ F.T, origin="lower", cmap="magma", extent=[0, seconds, 0, seconds])
        ax.set(title=name, xlabel="time (s)", ylabel="time (s)")
    fig.suptitle(Path(item.audio).name)
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=90))
    plt.close(fig)
    return Path(path)
