from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
REAL = DATA / "real"
PEERS = ROOT.parent / "shared" / "peers"
SR = 22050


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is absent")
    return path


@pytest.fixture
def real() -> Path:
    return need(REAL)


def tone(midi: float | list[float], seconds: float = 2.0, sr: int = SR, harmonics: int = 1,
         amp: float = 0.3) -> np.ndarray:
    """A sum of harmonic tones (decaying partials) at the given MIDI pitches."""
    t = np.arange(int(seconds * sr)) / sr
    y = np.zeros_like(t)
    for m in np.atleast_1d(midi):
        f0 = 440.0 * 2 ** ((m - 69) / 12)
        for h in range(1, harmonics + 1):
            if f0 * h < sr / 2:
                y += np.sin(2 * np.pi * f0 * h * t) / h
    return (amp * y / np.max(np.abs(y))).astype(np.float32)
