"""Probing frozen embeddings, as in Krause, Weiß & Müller's poster: a small downstream classifier
(scikit-learn's MLP) trained on the embeddings of one split of recordings and tested on the
other, for instrument-family activity (the GM families of the notes sounding) and for pitch
classes; average precision, ROC AUC and F1 (macro over the classes present in both splits).

A supervised reference is the same classifier on the input itself (the log-HCQT averaged over
the embedding's excerpt length), trained with the labels: what labels buy without a pretext task.
"""

from __future__ import annotations

from dataclasses import dataclass
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
    """AP, AUC and F1 of each task for one representation."""

    name: str
    scores: dict[str, dict[str, float]]  # task → {"AP", "AUC", "F1"}


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


def _dataset(items: list[Item], model: str | None, device: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    X, Y = [], {t: [] for t in TASKS}
    for it in items:
        F, rate = representation(it, model, device=device)
        times = np.arange(0, len(F) / rate, PROBE_HOP)
        X.append(F[np.minimum((times * rate).astype(int), len(F) - 1)])
        for t, y in frame_labels(it, times).items():
            Y[t].append(y)
    return np.concatenate(X), {t: np.concatenate(v) for t, v in Y.items()}


def probe(train: list[Item], test: list[Item], models: dict[str, str | None], *,
          device: str = D.DEVICE, seed: int = 0) -> list[ProbeResult]:
    """Train and test a probe per representation (name → model file, None: the supervised
    reference on the HCQT) and task; returns AP, AUC and F1 (threshold 0.5) per task."""
    from sklearn.metrics import average_precision_score, f1_score, roc_auc_score
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import StandardScaler

    if not train or not test:
        raise ParameterError("the probe needs recordings in both splits")
    out = []
    for name, model in models.items():
        Xtr, Ytr = _dataset(train, model, device)
        Xte, Yte = _dataset(test, model, device)
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
        out.append(ProbeResult(name, scores))
    return out


def split_items(items: list[Item], *, fraction: float = 0.5, seed: int = 0) -> tuple[list[Item], list[Item]]:
    """Recordings split by piece group: no piece on both sides."""
    from .manifests import split_by_group

    return split_by_group(items, fraction, seed)


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
