"""Pictures for people checking results (matplotlib, written to files; never shown)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .io import atomic_write, check_writable


def plot_alignment(alignment, path: str | Path, *, overwrite: bool = False,
                   truth: tuple[np.ndarray, np.ndarray] | None = None) -> Path:
    """Two panels: the local cost along the warping path over score × recording time, and the
    aligned piano roll over the recording's chroma, so a bad alignment shows at a glance.
    ``truth``: known (score seconds, recording seconds) pairs, drawn as dots on the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .dtw import cost_matrix_cosine

    path = check_writable(path, overwrite=overwrite)
    fr = alignment.feature_rate
    X, Y = alignment.score_chroma, alignment.audio_chroma
    step = max(1, int(np.ceil(max(X.shape[1], Y.shape[1]) / 1500)))  # keep the picture small
    C = cost_matrix_cosine(X[:, ::step], Y[:, ::step])
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(10, 9), gridspec_kw={"height_ratios": [3, 2]})
    ext = [0, Y.shape[1] / fr, 0, X.shape[1] / fr]
    a1.imshow(C, origin="lower", aspect="auto", cmap="gray_r", extent=ext)
    a1.plot(alignment.path[1], alignment.path[0], color="red", lw=1.2, label="warping path")
    if truth is not None:
        a1.plot(truth[1], truth[0], ".", color="tab:green", ms=3, label="true note times")
        a1.legend(loc="upper left")
    a1.set_xlabel("recording (s)")
    a1.set_ylabel("score (s)")
    a1.set_title(f"cost matrix and warping path (mean local cost {alignment.mean_cost:.2f})")
    a2.imshow(Y, origin="lower", aspect="auto", cmap="Greys", extent=[0, Y.shape[1] / fr, -0.5, 11.5])
    n = alignment.notes
    for on, off, p in zip(n.onset, n.offset, n.pitch):
        a2.plot([on, off], [p % 12, p % 12], color="tab:red", lw=3, alpha=0.6, solid_capstyle="butt")
    for a, b, _ in alignment.doubtful:
        a2.axvspan(a, b, color="orange", alpha=0.25)
    a2.set_yticks(range(12), ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"])
    a2.set_xlabel("recording (s)")
    a2.set_title("aligned score notes (red) over the recording's chroma")
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=90))
    plt.close(fig)
    return path
