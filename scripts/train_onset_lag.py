"""Train the onset-lag model (chromatool/onset_lag.py) on renders with exact note-ons.

Items, round robin: (1) a music21-corpus piece on a random GM ensemble (slow-attack strings,
choirs and organs included) under a smooth tempo curve; (2) the same kind of piece played
expressively (rubato, ritardandi, fermatas, spread chords), detuned, in a room; (3) a real
pianist's ASAP performance with its pedal, the "score" being that performance under another
tempo curve; (4, ``--kinds solo``) one part of a piece on one instrument, alone, dry or in a
room (a sparse texture: notes rise out of silence or their own decay). None of the alignment
benchmark's pieces or performances is used (the first 40 of each of its draws are left out,
and every ASAP piece it plays). Each item is aligned with
chromatool's aligner (lag correction off); every onset group that refinement put on a peak of
the recording gives one example: the rise's features and how far after the true note-on the
peak lies.

    python scripts/train_onset_lag.py make DIR --items 180 [--kinds smooth expressive piano] [--fonts A.sf2 ...]
    python scripts/train_onset_lag.py make DIR2 --items 90 --kinds solo --seed 8
    python scripts/train_onset_lag.py fit DIR DIR2 -o chromatool/weights/onset-lag.npz [--exclude-font TimGM6mb]

``make`` is resumable (one .npz per item); ``fit`` trains a small MLP (Huber loss) on the
examples within 150 ms of the truth (the others are wrong peaks, not lags), holding out every
fifth item for validation, and prints the validation error beside no correction.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "benchmarks"))
FONTS = ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/sounds/sf2/TimGM6mb.sf2",
         "/usr/share/samples/sf_GMbank.sf2", "/usr/share/sounds/sf2/OPL-3_FM_128M.sf2")
HELD_OUT = 40  # the benchmark draws' first HELD_OUT pieces / performances are never used


def training_pieces(n: int, seed: int) -> list[Path]:
    from retrieval_set import corpus_pieces

    bench = {p for s in (1, 1001) for p in corpus_pieces(np.random.default_rng(s), HELD_OUT)}
    pool = corpus_pieces(np.random.default_rng(seed), 10_000)
    return [p for p in pool if p not in bench][:n]


def training_performances(n: int, seed: int) -> list[dict]:
    from align_eval import asap_performances

    bench = {r["midi_score"] for r in asap_performances(HELD_OUT, np.random.default_rng(1))}
    pool = asap_performances(10_000, np.random.default_rng(seed))
    return [r for r in pool if r["midi_score"] not in bench][:n]


#: Instruments of the solo items: bowed, blown, sung, organ, struck.
SOLO_PROGRAMS = (40, 41, 42, 48, 49, 52, 53, 56, 60, 68, 71, 73, 19, 0, 6)


def solo_item(path: Path, rng, font: str):
    """One part of a corpus piece on one instrument, alone (a sparse texture: every note rises
    out of its own decay or out of silence), dry or in a room."""
    import music21

    from chromatool.expressive import expressive_timing
    from chromatool.render import TempoCurve, add_noise, add_reverb, detune, render
    from chromatool.score import notelist_from_music21

    notes = notelist_from_music21(music21.converter.parse(path), source=str(path))
    notes = notes.select(notes.part == rng.choice(np.unique(notes.part)))
    if len(notes) < 20 or notes.duration > 240:
        return None
    perf = replace(notes, program=np.full(len(notes), SOLO_PROGRAMS[int(rng.integers(len(SOLO_PROGRAMS)))]))
    if rng.random() < 0.5:
        perf = expressive_timing(perf, rng=rng).apply(perf)
    else:
        perf = TempoCurve(notes.duration, rng=rng, scale=float(rng.uniform(0.8, 1.25)), max_ratio=1.3).apply(perf)
    y = render(perf, soundfont=font)
    if rng.random() < 0.7:
        y = add_reverb(y, rng=rng, rt60=float(rng.uniform(0.3, 2.5)), wet=float(rng.uniform(0.1, 0.4)))
    cents = float(rng.uniform(-40, 40))
    y = detune(add_noise(y, snr_db=float(rng.uniform(25, 50)), rng=rng), cents)
    return notes, y, perf.onset / 2 ** (cents / 1200)


def ensemble_item(path: Path, rng, font: str, expressive: bool):
    import music21
    from align_eval import SLOW_ENSEMBLES
    from retrieval_set import ENSEMBLES

    from chromatool.expressive import expressive_timing, spread_chords
    from chromatool.render import TempoCurve, add_noise, add_reverb, detune, render
    from chromatool.score import notelist_from_music21

    notes = notelist_from_music21(music21.converter.parse(path), source=str(path))
    if len(notes) < 30 or notes.duration > 240:
        return None
    pool = ENSEMBLES + SLOW_ENSEMBLES
    ens = pool[int(rng.integers(len(pool)))]
    perf = replace(notes, program=np.array([ens[p % len(ens)] for p in notes.part]))
    if expressive:
        perf = spread_chords(expressive_timing(perf, rng=rng).apply(perf), rng=rng)
    else:
        perf = TempoCurve(notes.duration, rng=rng, scale=float(rng.uniform(0.8, 1.25)), max_ratio=1.3).apply(perf)
    y = render(perf, soundfont=font)
    y = add_noise(add_reverb(y, rng=rng, rt60=float(rng.uniform(0.3, 2.5)), wet=float(rng.uniform(0.1, 0.4))),
                  snr_db=float(rng.uniform(20, 40)), rng=rng)
    cents = float(rng.uniform(-40, 40)) if expressive else 0.0
    return notes, detune(y, cents), perf.onset / 2 ** (cents / 1200)


def piano_item(row: dict, rng, font: str, seconds: float = 150.0):
    import tempfile

    import pretty_midi
    from align_eval import ASAP

    from chromatool.render import TempoCurve, add_noise, add_reverb, render_midi_file
    from chromatool.score import read_score

    pm = pretty_midi.PrettyMIDI(str(ASAP / row["midi_performance"]))
    for inst in pm.instruments:
        inst.notes = [nt for nt in inst.notes if nt.start < seconds]
        inst.control_changes = [c for c in inst.control_changes if c.time < seconds]
        inst.pitch_bends = []
    with tempfile.TemporaryDirectory() as tmp:
        mid = Path(tmp) / "perf.mid"
        pm.write(str(mid))
        y = render_midi_file(mid, soundfont=font)
        perf = read_score(mid)
    y = add_noise(add_reverb(y, rng=rng, rt60=float(rng.uniform(0.5, 2.0)), wet=0.2),
                  snr_db=float(rng.uniform(25, 40)), rng=rng)
    score = TempoCurve(perf.duration, rng=rng, scale=float(rng.uniform(0.8, 1.25)), max_ratio=1.3).apply(perf)
    return score, y, perf.onset


def examples(score, y, truth) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features, lag (peak - note-on, seconds) and mean pitch of every onset group refinement
    placed on a peak (lag correction off)."""
    from chromatool import alignment, onset_lag, refine
    from chromatool.align_features import recording_cqt
    from chromatool.onset_lag import lag_features

    onset_lag.predict_lags = lambda F, fr: np.zeros(len(F))  # the peaks as refinement finds them
    a = alignment.align_notes(score, y, soundfont=FONTS[0], repeats="as-written")
    fr = a.feature_rate
    O, L = refine.semitone_log_energy(recording_cqt(y, fr, a.tuning))
    key = np.round(score.onset, 4)
    X, lag, pitch = [], [], []
    for s_t, r_t in a.anchors.T:
        m = key == round(float(s_t), 4)
        if not m.any():
            continue
        X.append(lag_features(O, L, score.pitch[m], float(r_t), fr))
        lag.append(float(r_t) - float(np.median(truth[m])))
        pitch.append(float(score.pitch[m].mean()))
    return np.array(X, np.float32), np.array(lag), np.array(pitch)


def make_one(args) -> str:
    i, kind, source, font, seed, out = args
    dest = Path(out) / f"{i:04d}.npz"
    if dest.exists():
        return f"{dest.name}: exists"
    from chromatool.errors import ChromatoolError

    rng = np.random.default_rng(seed)
    try:
        if kind == "piano":
            case = piano_item(source, rng, font)
        elif kind == "solo":
            case = solo_item(source, rng, font)
        else:
            case = ensemble_item(source, rng, font, kind == "expressive")
    except ChromatoolError as exc:  # a soundfont that renders this item silent, an empty part
        return f"{dest.name}: skipped ({exc})"
    if case is None:
        return f"{dest.name}: skipped"
    X, lag, pitch = examples(*case)
    np.savez(dest, X=X, lag=lag, pitch=pitch, font=Path(font).stem, kind=kind,
             source=str(source["midi_performance"] if kind == "piano" else source))
    ok = np.abs(lag) < 0.15
    return f"{dest.name}: {kind} {Path(font).stem} {len(lag)} groups, median lag {np.median(lag[ok]) * 1000:.1f} ms"


def make(args) -> None:
    from concurrent.futures import ProcessPoolExecutor

    Path(args.dir).mkdir(parents=True, exist_ok=True)
    kinds = args.kinds
    n_piano = sum(kinds[i % len(kinds)] == "piano" for i in range(args.items))
    pieces = training_pieces(args.items - n_piano, args.seed)
    perfs = training_performances(n_piano, args.seed)
    fonts = [f for f in args.fonts if Path(f).is_file()]
    rng = np.random.default_rng(args.seed)
    jobs, next_perf, next_piece = [], iter(perfs), iter(pieces)
    for i in range(args.items):
        kind = kinds[i % len(kinds)]
        source = next(next_perf) if kind == "piano" else next(next_piece)
        jobs.append((i, kind, source, fonts[int(rng.integers(len(fonts)))], args.seed * 1000 + i, args.dir))
    with ProcessPoolExecutor(args.jobs) as pool:
        for msg in pool.map(make_one, jobs):
            print(msg, flush=True)


def load(dirnames: list[str]) -> list[tuple]:
    items = []
    for f in (f for d in dirnames for f in sorted(Path(d).glob("*.npz"))):
        z = np.load(f)
        ok = np.abs(z["lag"]) < 0.15
        if ok.any():
            items.append((z["X"][ok], z["lag"][ok].astype(np.float32), str(z["kind"]), str(z["font"])))
    return items


def report(name: str, items: list[tuple], predict) -> None:
    """Median |error| of the peaks before and after the correction, per kind of item."""
    if not items:
        return
    X, lag = (np.concatenate([it[j] for it in items]) for j in (0, 1))
    kinds = np.concatenate([[it[2]] * len(it[1]) for it in items])
    p = predict(X)
    print(f"{name}: {len(items)} items, {len(lag)} groups")
    for kind in ["all", *sorted(set(kinds))]:
        m = np.ones(len(lag), bool) if kind == "all" else kinds == kind
        before, after = lag[m], lag[m] - p[m]
        print(f"  {kind:<11} median |err| {np.median(np.abs(before)) * 1000:5.1f} -> {np.median(np.abs(after)) * 1000:5.1f} ms"
              f"  signed {np.median(before) * 1000:+5.1f} -> {np.median(after) * 1000:+5.1f} ms"
              f"  <20 ms {np.mean(np.abs(before) < 0.02) * 100:5.1f} -> {np.mean(np.abs(after) < 0.02) * 100:5.1f} %")


def fit(args) -> None:
    import torch

    torch.manual_seed(0)
    items = load(args.dir)
    test = [it for it in items if it[3] == args.exclude_font]
    items = [it for it in items if it[3] != args.exclude_font]
    val = [it for k, it in enumerate(items) if k % 5 == 4]
    train = [it for k, it in enumerate(items) if k % 5 != 4]
    Xt, yt = (np.concatenate([it[j] for it in train]) for j in (0, 1))
    mean, std = Xt.mean(0), Xt.std(0) + 1e-6
    dims = [Xt.shape[1], args.hidden, args.hidden, 1]
    layers = []
    for k in range(3):
        layers.append(torch.nn.Linear(dims[k], dims[k + 1]))
        if k < 2:
            layers.append(torch.nn.ReLU())
    net = torch.nn.Sequential(*layers)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, weight_decay=1e-4)
    xt, ty = torch.tensor((Xt - mean) / std), torch.tensor(yt)[:, None]
    rng = np.random.default_rng(0)
    for step in range(args.steps):
        b = torch.tensor(rng.integers(len(xt), size=256))
        loss = torch.nn.functional.huber_loss(net(xt[b]), ty[b], delta=0.01)
        opt.zero_grad()
        loss.backward()
        opt.step()

    from chromatool import defaults as D
    from chromatool.onset_lag import predict_lags

    W = {"mean": mean, "std": std, "feature_rate": np.array(D.ALIGN_FEATURE_RATE),
         "min_lag": np.array(args.min_lag), "max_lag": np.array(args.max_lag)}
    for k, lin in enumerate(m for m in net if isinstance(m, torch.nn.Linear)):
        W[f"w{k}"] = lin.weight.detach().numpy().T.copy()
        W[f"b{k}"] = lin.bias.detach().numpy().copy()
    np.savez(args.output, **W)

    def predict(X):  # the written file, as the aligner reads it
        return predict_lags(X, D.ALIGN_FEATURE_RATE, weights=args.output)

    report("training", train, predict)
    report("validation (every fifth item)", val, predict)
    report(f"held-out soundfont {args.exclude_font}", test, predict)
    print(f"wrote {args.output}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("dir")
    m.add_argument("--items", type=int, default=90)
    m.add_argument("--fonts", nargs="+", default=list(FONTS))
    m.add_argument("--seed", type=int, default=7)
    m.add_argument("--kinds", nargs="+", default=["smooth", "expressive", "piano"],
                   choices=["smooth", "expressive", "piano", "solo"], help="kinds of item, round robin")
    m.add_argument("--jobs", type=int, default=2)
    f = sub.add_parser("fit")
    f.add_argument("dir", nargs="+")
    f.add_argument("-o", "--output", required=True)
    f.add_argument("--exclude-font", help="leave this soundfont's items out (stem, e.g. TimGM6mb)")
    f.add_argument("--hidden", type=int, default=32)
    f.add_argument("--steps", type=int, default=4000)
    f.add_argument("--min-lag", type=float, default=-0.02, help="seconds; corrections are clipped to this ...")
    f.add_argument("--max-lag", type=float, default=0.1, help="... and this")
    args = ap.parse_args()
    make(args) if args.cmd == "make" else fit(args)


if __name__ == "__main__":
    main()
