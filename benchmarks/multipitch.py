"""Multi-pitch frame F of chromatool's multipitch model(s) side by side with basic-pitch
(Spotify's transcriber, the peer a user would compare with), on validation renders and on the
real clips in ../shared/data, in one run.

basic-pitch pins old packages, so it runs in its own environment (``--bp-python``):

    python3.11 -m venv .venv-bp
    .venv-bp/bin/pip install basic-pitch==0.4.0 --no-deps
    .venv-bp/bin/pip install onnxruntime "resampy<0.4.3" "setuptools<81" librosa mir_eval pretty_midi soundfile

    python benchmarks/multipitch.py [--renders DIR] [--model multipitch --model runs/x.pt@0.3] [--per-file]
        [--sets renders,vibrato,piano,real]

Sets:

- renders: ``chromatool dataset DIR --composers monteverdi --pieces 10 --seed 2 --excerpts 0``
  (a composer no model here is trained on; made when DIR has no bce.csv), every file whole;
- vibrato: the same ten renders with ``--vibrato 1``: its singers, strings and winds play with
  vibrato (±5–90 cents), everything else as in the renders (the vibrato has its own generator);
- piano: ``chromatool dataset DIR --asap ../shared/data/asap --pieces 30 --seed 12``: human
  piano performances with their pedal (labels from the performance MIDI); the first 10 whose
  piece is not in ``--exclude`` (a training manifest, e.g. the realistic run's asap/bce.csv);
  ``--piano-tune OUT.csv`` writes the others as a manifest to choose a threshold on;
- real: the MAESTRO clip with its performance MIDI (exact labels, 2 s of piano) and the two
  Chopin Op. 10 No. 3 recordings with labels from ``chromatool align`` of the MIDI score
  (approximate: both systems are scored against the same labels).

Every system is scored the same way: mir_eval multipitch precision / recall on chromatool's
frame grid (the model's feature rate) and the pitch range C1–B6, F pooled over all frames of
a set. basic-pitch is scored on its note events (default thresholds: what ``basic-pitch`` writes
as MIDI) and on its frame posteriorgram at its frame threshold 0.3.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REAL = ROOT.parent / "shared" / "data" / "real"

BP_CHILD = r"""
import json, sys
import numpy as np
from basic_pitch import ICASSP_2022_MODEL_PATH
from basic_pitch.inference import predict, Model
from basic_pitch.note_creation import model_frames_to_time
model = Model(ICASSP_2022_MODEL_PATH)
out = {}
for src in sys.argv[1:]:
    output, _, events = predict(src, model)
    note = output["note"]  # (frames, 88) from A0 at 22050 / 256 Hz
    on = np.argwhere(note >= 0.3)
    out[src] = {"events": [[float(s), float(e), int(p)] for s, e, p, *_ in events],
                "frames": on.tolist(), "times": model_frames_to_time(note.shape[0]).tolist()}
print(json.dumps(out))
"""
BP_MIDI_MIN = 21


def render_set(folder: Path, vibrato: float = 0.0) -> list[tuple[Path, Path]]:
    if not (folder / "bce.csv").is_file():
        subprocess.run([sys.executable, "-m", "chromatool", "dataset", str(folder), "--composers", "monteverdi",
                        "--pieces", "10", "--seed", "2", "--excerpts", "0", "--vibrato", str(vibrato),
                        "--jobs", "2", "--skip-existing"], check=True)
    from chromatool.evaluation import pitch_evaluation_pairs

    return pitch_evaluation_pairs([str(folder / "bce.csv")])


#: The sets, in the order they are scored.
SETS: tuple[str, ...] = ("renders", "vibrato", "piano", "real")
#: Performances of the piano set this benchmark scores; the rest (``--piano-tune``) may tune thresholds.
PIANO_SCORED = 10


def piano_performances(folder: Path, exclude: Path | None) -> list[tuple[Path, Path]]:
    """(audio, labels) of the piano set's performances whose piece is not in ``exclude``."""
    if not (folder / "bce.csv").is_file():
        subprocess.run([sys.executable, "-m", "chromatool", "dataset", str(folder), "--asap",
                        str(ROOT.parent / "shared" / "data" / "asap"), "--pieces", "30", "--seed", "12",
                        "--jobs", "2", "--skip-existing"], check=True)
    from chromatool.io import read_csv_rows

    seen = {r["group"] for r in read_csv_rows(exclude, ("group",), what="manifest")} if exclude else set()
    rows = read_csv_rows(folder / "bce.csv", ("audio", "labels", "group"), what="manifest")
    return [(folder / r["audio"], folder / r["labels"]) for r in rows if r["group"] not in seen]


def piano_set(folder: Path, exclude: Path | None) -> list[tuple[Path, Path]]:
    return piano_performances(folder, exclude)[:PIANO_SCORED]


def real_set(tmp: Path) -> list[tuple[Path, Path]]:
    pairs = []
    stub = sorted((REAL / "maestro_stub").glob("*.wav"))
    pairs += [(w, w.with_suffix(".midi")) for w in stub]
    chopin = REAL / "chopin_op10-3"
    for take in sorted(chopin.glob("*.wav")):
        labels = tmp / f"{take.stem}.csv"
        subprocess.run([sys.executable, "-m", "chromatool", "align", str(next(chopin.glob("*MIDI.mid"))), str(take),
                        "-o", str(labels), "--overwrite"], check=True, capture_output=True)
        pairs.append((take, labels))
    return pairs


def basic_pitch_rolls(bp_python: str, audio: list[Path]) -> dict:
    r = subprocess.run([bp_python, "-c", BP_CHILD, *map(str, audio)], capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"basic-pitch failed ({bp_python}):\n{r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def score_rows(pairs, activations) -> dict:
    """Pooled precision / recall / F of activations (one (72, N) array per pair, 1 = on)."""
    from chromatool.evaluation import multipitch_scores, pooled_f, read_notes

    rows = [multipitch_scores(a, read_notes(lab), feature_rate=rate, threshold=0.5)
            for (_, lab), (a, rate) in zip(pairs, activations)]
    return pooled_f(rows)


def model_label(model: str, models: list[str]) -> str:
    """A model's name in the table: its stem, or its path where two models share the stem."""
    path, _, th = model.partition("@")
    stems = [Path(m.partition("@")[0]).stem for m in models]
    name = Path(path).stem if stems.count(Path(path).stem) == 1 else path
    return f"{name} @{th}" if th else name


def chromatool_activations(pairs, model: str, threshold: float | None = None, precision: str = "auto"):
    """Thresholded salience of each recording as ``chromatool extract --kind pitch`` computes it
    (its defaults: the recording's tuning estimated, ``precision`` "auto")."""
    from chromatool.deep import extract
    from chromatool.evaluation import PITCH_THRESHOLD

    out = []
    for audio, _ in pairs:
        f = extract(audio, model=model, kind="pitch", precision=precision)
        out.append(((f.data >= (PITCH_THRESHOLD if threshold is None else threshold)).astype(float), f.feature_rate))
    return out


def bp_activations(pairs, bp: dict, like) -> tuple[list, list]:
    """basic-pitch's note events and frames on the grid of ``like`` (chromatool's activations)."""
    import numpy as np

    from chromatool import defaults as D
    from chromatool.score import read_score

    ev, fr = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i, ((audio, _), (a, rate)) in enumerate(zip(pairs, like)):
            r = bp[str(audio)]
            n_pitch, n = a.shape
            path = Path(tmp) / f"{i}.csv"
            path.write_text("Start;Duration;Pitch\n" + "".join(f"{s};{e - s};{p}\n" for s, e, p in r["events"]))
            notes = read_score(path) if r["events"] else None
            roll = (notes.piano_roll(feature_rate=rate, n_frames=n, midi_min=D.MIDI_MIN, n_pitches=n_pitch)
                    if notes is not None else np.zeros((n_pitch, n)))
            ev.append((roll, rate))
            times = np.asarray(r["times"])  # basic-pitch's own frame times (its windows overlap)
            on = np.zeros((n_pitch, times.size))
            for t, k in r["frames"]:
                p = k + BP_MIDI_MIN - D.MIDI_MIN
                if 0 <= p < n_pitch:
                    on[p, t] = 1
            idx = np.interp(np.arange(n) / rate, times, np.arange(times.size)).round().astype(int)
            fr.append((on[:, idx], rate))
    return ev, fr


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--renders", type=Path, default=Path(tempfile.gettempdir()) / "chromatool-mp-valid")
    ap.add_argument("--vibrato-renders", type=Path, default=Path(tempfile.gettempdir()) / "chromatool-mp-vibrato")
    ap.add_argument("--piano", type=Path, default=Path(tempfile.gettempdir()) / "chromatool-mp-piano")
    ap.add_argument("--sets", default=",".join(SETS), help="comma-separated sets to score (default: all)")
    ap.add_argument("--exclude", type=Path, help="training manifest whose ASAP pieces (groups) are left out")
    ap.add_argument("--bp-python", default=str(ROOT / ".venv-bp" / "bin" / "python"))
    ap.add_argument("--model", action="append", help="multipitch model name or file (repeatable); "
                    "MODEL@0.3 gives this model its own threshold")
    ap.add_argument("--threshold", type=float, help="activation threshold of chromatool's models "
                    "(default: the packaged model's, defaults.PITCH_THRESHOLD)")
    ap.add_argument("--precision", action="append", default=[],
                    help="chromatool's arithmetic (repeatable: each model once per value; default auto)")
    ap.add_argument("--per-file", action="store_true", help="also a row per recording of the real set")
    ap.add_argument("--piano-tune", type=Path, metavar="OUT.csv", help="write the piano set's performances this "
                    "benchmark does not score (pieces not in --exclude) as an audio,labels manifest, for "
                    "`chromatool evaluate pitch OUT.csv --threshold ...`, and stop")
    args = ap.parse_args()
    if args.piano_tune:
        rows = piano_performances(args.piano, args.exclude)[PIANO_SCORED:]
        args.piano_tune.write_text("audio,labels\n" + "".join(f"{a.resolve()},{b.resolve()}\n" for a, b in rows))
        print(f"{len(rows)} performances: {args.piano_tune}")
        return
    models = args.model or ["multipitch"]
    with tempfile.TemporaryDirectory() as tmp:
        make = {"renders": lambda: render_set(args.renders), "vibrato": lambda: render_set(args.vibrato_renders, 1.0),
                "piano": lambda: piano_set(args.piano, args.exclude),
                "real": lambda: real_set(Path(tmp)) if REAL.is_dir() else []}
        chosen = [x.strip() for x in args.sets.split(",") if x.strip()]
        if unknown := set(chosen) - set(SETS):
            ap.error(f"--sets: unknown {sorted(unknown)} (choose from {', '.join(SETS)})")
        sets = {name: make[name]() for name in chosen}
        rows = []
        for name, pairs in sets.items():
            if not pairs:
                continue
            bp = basic_pitch_rolls(args.bp_python, [a for a, _ in pairs])
            systems = {}
            precisions = args.precision or ["auto"]
            for m in models:
                path, _, th = m.partition("@")
                for p in precisions:
                    acts = chromatool_activations(pairs, path, float(th) if th else args.threshold, p)
                    systems[f"chromatool {model_label(m, models)}" + (f" {p}" if len(precisions) > 1 else "")] = acts
            systems["basic-pitch notes"], systems["basic-pitch frames"] = bp_activations(pairs, bp, acts)
            rows.append((name, len(pairs), {k: score_rows(pairs, a) for k, a in systems.items()}))
            if args.per_file and name == "real":
                for i, (audio, _) in enumerate(pairs):
                    rows.append((f"  {audio.stem[-24:]}", 1, {k: score_rows(pairs[i:i + 1], a[i:i + 1])
                                                           for k, a in systems.items()}))
    ref = "basic-pitch notes"
    width = max(9, *(len(name) + 1 for name, _, _ in rows))
    print(f"{'set':<{width}}{'files':>6}  {'system':<42}{'P':>7}{'R':>7}{'F':>7}  F vs {ref}")
    for name, n, figures in rows:
        for system, f in figures.items():
            print(f"{name:<{width}}{n:>6}  {system:<42}{f['precision']:>7.3f}{f['recall']:>7.3f}{f['f']:>7.3f}"
                  f"  {f['f'] / max(figures[ref]['f'], 1e-9):.2f}x")


if __name__ == "__main__":
    main()
