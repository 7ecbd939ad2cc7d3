"""Deep chroma extraction speed (x realtime) and peak memory on the CPU, decoding and HCQT
included, side by side with librosa's load + chroma_cqt on the same file (the hand-made
reference a user would run).

The audio is the Op. 67 Musopen recording looped to ``--minutes`` and written as a CD-format
file (44.1 kHz, stereo, 16 bit) in a temporary folder; chromatool runs the code path of
``chromatool extract FILE -o OUT.npy`` on it. Each figure runs in a fresh process so that peak
memory (ru_maxrss) is its own.

    python benchmarks/extract.py [--minutes 10] [--model ctc-chroma] [--pitch-model multipitch]
    python benchmarks/extract.py --network [--model ...]   # the networks alone, best of 3

``--network`` times ``deep.network_output`` alone on the file's HCQT, the layers as they train
against the inference forms of ``chromatool.fast_conv`` (same numbers) and the 8-bit
convolutions of ``chromatool.int8`` (``--precision int8``), back to back.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLIP = ROOT.parent / "shared" / "data" / "real" / "musopen" / "Beethoven_Op067-01_DavidHighSchool.wav"

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
kind, model, src, dest, precision, device = sys.argv[1:7]
t = time.perf_counter()
if kind == "librosa":
    import librosa
    y, _ = librosa.load(src, sr=22050)
    shape = librosa.feature.chroma_cqt(y=y, sr=22050, hop_length=882).shape
else:
    import numpy as np
    from chromatool.deep import load_model
    from chromatool.extraction import extract_files
    written, failures = extract_files([(Path(src), Path(dest))], load_model(model, output=kind, device=device), output=kind,
                                      overwrite=True, precision=precision, device=device)
    assert not failures, failures
    shape = np.load(written[0], mmap_mode="r").shape
sec = time.perf_counter() - t
print(json.dumps({"seconds": sec, "shape": list(shape),
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def make_file(minutes: float, folder: Path, clip: Path = CLIP) -> Path:
    """The Op. 67 clip (or ``clip``) looped to ``minutes``, as 44.1 kHz stereo 16-bit WAV."""
    import numpy as np
    import soundfile as sf

    from chromatool.audio import load_audio, resample

    y = resample(load_audio(clip), 22050, 44100)
    n = int(minutes * 60 * 44100)
    path = folder / f"op67_{minutes:g}min.wav"
    with sf.SoundFile(path, "w", 44100, 2, "PCM_16") as f:
        for a in range(0, n, y.size):
            part = y[: min(y.size, n - a)]
            f.write(np.stack([part, part], axis=1))
    return path


def run(kind: str, model: str, src: Path, dest: Path, precision: str = "auto", device: str = "cpu") -> dict:
    r = subprocess.run([sys.executable, "-c", CHILD, kind, model, str(src), str(dest), precision, device],
                       capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(r.stderr)
    return json.loads(r.stdout.strip().splitlines()[-1])


def network_times(src: Path, models: list[tuple[str, str]], repeats: int = 3) -> None:
    """The networks alone on ``src``'s HCQT: plain layers, fast_conv's forms (the same numbers)
    and, where the CPU runs them, 8-bit integer convolutions (``chromatool.int8``); best of
    ``repeats`` each, interleaved so that the machine's drift hits all."""
    import numpy as np

    from chromatool import deep, fast_conv, int8
    from chromatool.audio import load_audio

    y = load_audio(src)
    forms = [("plain", False, "float32"), ("fast", True, "float32")] + ([("int8", True, "int8")] if int8.supported() else [])
    print(f"{'network alone (best of ' + str(repeats) + ')':<36}" + "".join(f"{f + ' s':>9}" for f, _, _ in forms)
          + f"{'fast':>8}{'int8':>8}  fast: same numbers; int8: max |diff|")
    for kind, name in models:
        lm = deep.load_model(name, output=kind)
        H, _ = deep.network_input(y, lm.features, output=kind)
        ref = deep.log_reference(float(H.max()))
        best, outs = {}, {}
        for _ in range(repeats):
            for form, enabled, precision in forms:
                fast_conv.ENABLED = enabled
                t = time.perf_counter()
                outs[form] = deep.network_output(lm, H, magnitude_ref=ref, precision=precision)
                best[form] = min(best.get(form, np.inf), time.perf_counter() - t)
        fast_conv.ENABLED = True
        same = "bit for bit" if np.array_equal(outs["plain"], outs["fast"]) else \
            f"max |diff| {np.abs(outs['plain'] - outs['fast']).max():.1e}"
        gain = {f: f"{best['plain'] / best[f]:>7.2f}x" if f in best else f"{'-':>8}" for f in ("fast", "int8")}
        diff = f"; {np.abs(outs['fast'] - outs['int8']).max():.3f}" if "int8" in outs else ""
        print(f"{kind + ' ' + Path(name).name:<36}" + "".join(f"{best[f]:>9.2f}" for f, _, _ in forms)
              + f"{gain['fast']}{gain['int8']}  {same}{diff}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--model", default="ctc-chroma", help="chroma model (name or .pt)")
    ap.add_argument("--pitch-model", default="multipitch", help="multi-pitch model (name or .pt)")
    ap.add_argument("--device", default="cpu", help="chromatool's device: cpu or cuda (librosa runs on the CPU)")
    ap.add_argument("--clip", type=Path, default=CLIP, help="the recording to loop")
    ap.add_argument("--network", action="store_true", help="time the networks alone (plain, fast and int8 layers)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src = make_file(args.minutes, Path(tmp), args.clip)
        if args.network:
            print(f"{args.minutes:g} min of audio, one thread per chunk, chunks on this machine's cores")
            return network_times(src, [("chroma", args.model), ("pitch", args.pitch_model)])
        print(f"{args.minutes:g} min of audio ({args.clip.name} looped, 44.1 kHz stereo WAV), chromatool on "
              f"this machine's {args.device}")
        print(f"{'implementation':<44}{'seconds':>9}{'x realtime':>12}{'peak MB':>9}")
        base = None
        rows = [("librosa load + chroma_cqt", "librosa", "", "")]
        for kind, model in (("chroma", args.model), ("pitch", args.pitch_model)):
            rows += [(f"chromatool extract {kind} --precision {p}", kind, model, p) for p in ("float32", "auto")]
        for label, kind, model, precision in rows:
            r = run(kind, model or "-", src, Path(tmp) / f"{kind}.npy", precision or "auto", args.device)
            base = base or r["seconds"]
            print(f"{label:<44}{r['seconds']:>9.2f}{args.minutes * 60 / r['seconds']:>12.1f}"
                  f"{r['peak_mb']:>9.0f}   ({base / r['seconds']:.2f}x librosa's time)")
        for kind, model in (("chroma", args.model), ("pitch", args.pitch_model)):
            cmd = ["chromatool", "extract", str(src), "-o", str(Path(tmp) / f"cli_{kind}.npy"), "--kind", kind,
                   "--model", model, "--overwrite", "--device", args.device]
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", *cmd], check=True, capture_output=True)
            sec = time.perf_counter() - t
            print(f"{'$ chromatool extract --kind ' + kind:<44}{sec:>9.2f}{args.minutes * 60 / sec:>12.1f}"
                  f"{'':>9}   ({base / sec:.2f}x librosa's time; the whole command)")
        print(f"(models: {args.model}, {args.pitch_model}; --precision auto resolves to "
              f"{_auto_precision(args.device)})")


def _auto_precision(device: str) -> str:
    from chromatool.device import resolve_precision

    return resolve_precision("auto", device)


if __name__ == "__main__":
    main()
