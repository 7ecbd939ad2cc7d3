"""Theme-like excerpts of a top voice: the weakly aligned pairs of ``train --loss ctc``.

``chromatool dataset`` cuts them from each score's top voice (for ASAP performances, the score's
top voice placed through the annotated beats); ``scripts/label_excerpts.py`` from any label
file; ``benchmarks/deep_retrieval.py --asap`` makes its queries with them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from .manifests import ctc_fits

if TYPE_CHECKING:
    from .dataset import RenderSettings


def _excerpts(top, settings: RenderSettings, rng: np.random.Generator,
              to_audio: Callable = lambda t: t) -> list[tuple[float, float]]:
    """(start, end) score times of top-voice excerpts of the allowed lengths whose notes fit a
    CTC path through their frames in the recording (``to_audio`` maps score seconds to it)."""
    out: list[tuple[float, float]] = []
    for _ in range(settings.excerpts * 4):
        if len(out) == settings.excerpts:
            break
        length = rng.uniform(settings.min_excerpt, settings.max_excerpt)
        starts = top.onset[top.onset <= top.duration - length]
        if starts.size == 0:
            break
        t0 = float(rng.choice(starts))
        sel = (top.onset >= t0) & (top.onset < t0 + length)
        if sel.sum() < 5:
            continue
        t1 = float(top.offset[sel].max())
        if any(a < t1 and t0 < b for a, b in out):
            continue  # keep excerpts disjoint
        if not ctc_fits(int(sel.sum()), float(to_audio(t1) - to_audio(t0))):
            continue  # a fast run: more notes than the excerpt's frames can hold
        out.append((t0, t1))
    return out


def write_excerpts(top, settings: RenderSettings, rng: np.random.Generator, out: Path, name: str,
                   to_audio: Callable = lambda t: t) -> list[dict[str, str]]:
    """Cut theme excerpts from a top voice, write each as ``out/themes/<name>_<k>.csv`` (an MTD
    note list) and return its ctc.csv fields: ``start`` and ``end`` in recording seconds
    (``to_audio`` maps the top voice's seconds to the recording's) and ``theme`` relative to
    ``out``."""
    rows = []
    for k, (t0, t1) in enumerate(_excerpts(top, settings, rng, to_audio)):
        theme = Path("themes") / f"{name}_{k}.csv"
        (out / "themes").mkdir(parents=True, exist_ok=True)
        _write_theme(out / theme, top.select((top.onset >= t0) & (top.onset < t1)), t0)
        rows.append({"start": f"{float(to_audio(t0)):.3f}", "end": f"{float(to_audio(t1)):.3f}",
                     "theme": str(theme)})
    return rows


def _write_theme(path: Path, notes, t0: float) -> None:
    with open(path, "w") as f:
        f.write("Start;Duration;Pitch\n")
        for a, b, p in zip(notes.onset - t0, notes.offset - notes.onset, notes.pitch):
            if b <= 0:
                continue  # grace notes: no duration in the score
            f.write(f"{a:.4f};{b:.4f};{int(p)}\n")
