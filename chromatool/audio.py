"""Audio decoding: any file libsndfile reads → mono float32 at the analysis rate."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .defaults import SAMPLE_RATE
from .errors import AudioError

#: Extensions tried as audio when a folder is scanned.
AUDIO_EXTENSIONS: tuple[str, ...] = (".wav", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff", ".opus")

#: Peak amplitude under which a recording counts as silent.
SILENCE_THRESHOLD: float = 1e-5


def load_audio(path: str | os.PathLike, *, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Read an audio file as mono float32 at ``sr``.

    Parameters
    ----------
    path : path of a file libsndfile can read (wav, flac, ogg, mp3, aiff, ...)
    sr : target sample rate in Hz

    Returns
    -------
    y : np.ndarray [shape=(n,), dtype=float32]

    Raises
    ------
    AudioError
        missing, unreadable, truncated, empty or all-silent input.
    """
    import soundfile as sf

    path = Path(path)
    if not path.exists():
        raise AudioError(f"{path}: no such file")
    if path.is_dir():
        raise AudioError(f"{path}: is a folder, not an audio file")
    try:
        with sf.SoundFile(str(path)) as f:
            log = f.extra_info
            native_sr = f.samplerate
            frames_declared = f.frames
            data = f.read(dtype="float32", always_2d=True)
    except (RuntimeError, sf.LibsndfileError, TypeError, ValueError) as exc:
        raise AudioError(f"{path}: cannot read audio ({_short(exc)})") from exc
    if _declares_more_data(log):
        raise AudioError(f"{path}: audio is truncated (the header declares more data than the file holds)")
    if data.shape[0] == 0:
        raise AudioError(f"{path}: audio is empty (0 samples)")
    if frames_declared > 0 and data.shape[0] < frames_declared:
        raise AudioError(
            f"{path}: audio is truncated ({data.shape[0]} of {frames_declared} frames readable)"
        )
    if not np.all(np.isfinite(data)):
        raise AudioError(f"{path}: audio contains NaN or infinite samples")
    y = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if float(np.max(np.abs(y))) < SILENCE_THRESHOLD:
        raise AudioError(f"{path}: audio is silent")
    if native_sr != sr:
        y = resample(y, native_sr, sr)
    return np.ascontiguousarray(y, dtype=np.float32)


def resample(y: np.ndarray, sr_in: float, sr_out: float) -> np.ndarray:
    """High-quality resampling (soxr, as librosa uses by default)."""
    import soxr

    return soxr.resample(y, sr_in, sr_out, quality="HQ").astype(np.float32, copy=False)


def _declares_more_data(log: str) -> bool:
    """libsndfile's parse log notes a chunk whose declared size exceeds the file ("should be")."""
    for line in log.splitlines():
        if line.strip().lower().startswith(("data", "ssnd")) and "should be" in line:
            return True
    return False


def _short(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    # libsndfile prefixes its messages with the path; keep only the reason.
    return msg.split(": ", 1)[-1] if ": " in msg else msg
