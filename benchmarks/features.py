"""HCQT speed and agreement: chromatool's multirate CQT against librosa.cqt, same parameters.

Both compute the 6-harmonic HCQT (harmonics 0.5..5, 216 bins from C1, 36 per octave) at a 25 Hz
hop (882 samples at 22050 Hz) on one core, over the same signal, in one run. Prints seconds,
x-realtime, the speed ratio and the correlation of log magnitudes (dB, 80 dB range).

    python benchmarks/features.py [AUDIO] [--seconds 60]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("audio", nargs="?", default=os.path.join(
        os.path.dirname(__file__), "..", "..", "shared", "data", "real", "chopin_op10-3",
        "Chopin_Op010-03-Measures1-8_Igoshina.wav"))
    ap.add_argument("--seconds", type=float, default=60.0, help="signal length (the clip is looped)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    import librosa
    from scipy import fft as sfft

    from chromatool import defaults as D
    from chromatool.audio import load_audio
    from chromatool.features import hcqt_magnitude

    y = load_audio(args.audio)
    n = int(args.seconds * D.SAMPLE_RATE)
    y = np.tile(y, int(np.ceil(n / y.size)))[:n]
    hop = D.hop_length()

    def ours():
        with sfft.set_workers(1):
            return hcqt_magnitude(y)

    def ref():
        return np.stack([np.abs(librosa.cqt(y, sr=D.SAMPLE_RATE, hop_length=hop, fmin=D.FMIN * h,
                                            n_bins=D.N_BINS, bins_per_octave=D.BINS_PER_OCTAVE))
                         for h in D.HCQT_HARMONICS])

    def best(fn, repeat):
        fn()  # warm caches (filters, plans)
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            out = fn()
            times.append(time.perf_counter() - t)
        return min(times), out

    t_ours, a = best(ours, args.repeat)
    t_ref, b = best(ref, max(1, args.repeat // 2))
    la = librosa.amplitude_to_db(a, ref=np.max, top_db=80)
    lb = librosa.amplitude_to_db(b, ref=np.max, top_db=80)
    corr = np.corrcoef(la.ravel(), lb.ravel())[0, 1]
    per_h = [np.corrcoef(la[i].ravel(), lb[i].ravel())[0, 1] for i in range(len(a))]
    print(f"signal: {os.path.basename(args.audio)} looped to {args.seconds:.0f} s, "
          f"HCQT {a.shape}, 1 thread")
    print(f"{'implementation':<22}{'seconds':>9}{'x realtime':>12}")
    print(f"{'librosa.cqt x6':<22}{t_ref:>9.3f}{args.seconds / t_ref:>12.1f}")
    print(f"{'chromatool (numpy)':<22}{t_ours:>9.3f}{args.seconds / t_ours:>12.1f}")
    print(f"speed-up: {t_ref / t_ours:.1f}x   log-magnitude correlation: {corr:.5f} "
          f"(per harmonic min {min(per_h):.5f})")
    try:
        import torch

        if torch.cuda.is_available():
            from chromatool.hcqt_torch import TorchEngine

            eng = TorchEngine("cuda")
            t_gpu, g = best(lambda: (hcqt_magnitude(y, engine=eng), torch.cuda.synchronize())[0],
                            args.repeat)
            print(f"{'chromatool (CUDA)':<22}{t_gpu:>9.3f}{args.seconds / t_gpu:>12.1f}   "
                  f"max |cuda - numpy| / max = {np.abs(g - a).max() / a.max():.2e}")
    except ImportError:
        pass


if __name__ == "__main__":
    main()
