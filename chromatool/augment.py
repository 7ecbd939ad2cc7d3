"""Making renders sound like recordings: equalisation, compression, lossy coding, microphone
noise — the signal chain between an instrument and an archive's file, for training data and
evaluation sets (:mod:`chromatool.render` has reverb, noise, tuning and pads).

Each function takes mono float32 audio and a random generator and returns audio of the same
length (so note labels stay valid).

>>> import numpy as np
>>> from chromatool.augment import equalize
>>> y = np.random.default_rng(0).standard_normal(22050).astype(np.float32)
>>> equalize(y, rng=np.random.default_rng(1)).shape
(22050,)
"""

from __future__ import annotations

import io

import numpy as np

from . import defaults as D
from .errors import ParameterError


def _peaking(f0: float, gain_db: float, q: float, sr: int) -> np.ndarray:
    """A peaking-EQ biquad (RBJ cookbook) as second-order sections."""
    a = 10 ** (gain_db / 40)
    w = 2 * np.pi * f0 / sr
    alpha = np.sin(w) / (2 * q)
    b0, b1, b2 = 1 + alpha * a, -2 * np.cos(w), 1 - alpha * a
    a0, a1, a2 = 1 + alpha / a, -2 * np.cos(w), 1 - alpha / a
    return np.array([[b0 / a0, b1 / a0, b2 / a0, 1.0, a1 / a0, a2 / a0]])


def equalize(y: np.ndarray, *, rng: np.random.Generator, bands: int = 3, max_db: float = 8.0,
             sr: int = D.SAMPLE_RATE) -> np.ndarray:
    """Random equalisation: ``bands`` peaking filters at random frequencies (80 Hz – 8 kHz,
    log-uniform), gains within ±``max_db``, Q 0.5–2 — a room, a microphone, a mastering."""
    from scipy.signal import sosfilt

    out = np.asarray(y, dtype=np.float64)
    for _ in range(bands):
        f0 = float(np.exp(rng.uniform(np.log(80.0), np.log(min(8000.0, 0.45 * sr)))))
        out = sosfilt(_peaking(f0, float(rng.uniform(-max_db, max_db)), float(rng.uniform(0.5, 2.0)), sr), out)
    return _renormalise(out, y)


def compress(y: np.ndarray, *, rng: np.random.Generator, sr: int = D.SAMPLE_RATE) -> np.ndarray:
    """A broadcast-style compressor: above a random threshold (−30 to −10 dB of the peak) the
    level rises only 1/ratio as fast (ratio 2–6), with a 10 ms attack / 200 ms release envelope."""
    from scipy.signal import lfilter

    x = np.asarray(y, dtype=np.float64)
    peak = max(float(np.max(np.abs(x))), 1e-9)
    threshold = peak * 10 ** (rng.uniform(-30, -10) / 20)
    ratio = float(rng.uniform(2.0, 6.0))
    alpha = np.exp(-1.0 / (0.2 * sr))
    env = np.sqrt(lfilter([1 - alpha], [1, -alpha], x**2)) + 1e-12  # a smoothed level
    gain = np.where(env > threshold, (env / threshold) ** (1.0 / ratio - 1.0), 1.0)
    return _renormalise(x * gain, y)


def lossy(y: np.ndarray, *, rng: np.random.Generator, sr: int = D.SAMPLE_RATE) -> np.ndarray:
    """A round trip through Ogg Vorbis at a random quality (libsndfile), as archives store files."""
    import soundfile as sf

    buf = io.BytesIO()
    quality = float(rng.uniform(0.1, 0.6))
    x = np.asarray(y, dtype=np.float32)
    with sf.SoundFile(buf, "w", sr, 1, format="OGG", subtype="VORBIS", compression_level=1.0 - quality) as f:
        for i in range(0, x.size, _VORBIS_BLOCK):  # libsndfile's Vorbis writer crashes on long single writes
            f.write(x[i:i + _VORBIS_BLOCK])
    buf.seek(0)
    out, _ = sf.read(buf, dtype="float32")
    n = len(y)
    out = out[:n] if out.size >= n else np.pad(out, (0, n - out.size))
    return out.astype(np.float32)


def mic_noise(y: np.ndarray, *, rng: np.random.Generator, snr_db: float) -> np.ndarray:
    """Pink (1/f) noise at ``snr_db`` below the signal: a microphone's and a hall's hiss."""
    if not np.isfinite(snr_db):
        raise ParameterError(f"snr_db must be finite, got {snr_db}")
    n = len(y)
    spec = np.fft.rfft(rng.standard_normal(n))
    spec /= np.sqrt(np.maximum(np.arange(spec.size), 1.0))
    noise = np.fft.irfft(spec, n)
    p = float(np.mean(np.asarray(y, dtype=np.float64) ** 2))
    noise *= np.sqrt(p / 10 ** (snr_db / 10) / max(float(np.mean(noise**2)), 1e-20))
    return (y + noise).astype(np.float32)


def recording_chain(y: np.ndarray, *, rng: np.random.Generator, lossy_share: float = 0.3,
                    sr: int = D.SAMPLE_RATE) -> np.ndarray:
    """Equalisation, sometimes compression, microphone noise (30–50 dB) and sometimes lossy coding."""
    y = equalize(y, rng=rng, sr=sr)
    if rng.random() < 0.5:
        y = compress(y, rng=rng, sr=sr)
    y = mic_noise(y, rng=rng, snr_db=float(rng.uniform(30, 50)))
    if rng.random() < lossy_share:
        y = lossy(y, rng=rng, sr=sr)
    return y


#: Frames per write to the Vorbis encoder.
_VORBIS_BLOCK: int = 1 << 15


def _renormalise(out: np.ndarray, like: np.ndarray) -> np.ndarray:
    peak = max(float(np.max(np.abs(out))), 1e-9)
    return (out / peak * max(float(np.max(np.abs(like))), 1e-9)).astype(np.float32)
