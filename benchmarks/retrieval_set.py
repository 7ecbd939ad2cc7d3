"""A synthetic theme-retrieval set from the music21 corpus, and top-1 / MRR per feature choice.

Documents: full polyphonic renders (FluidSynth, TimGM6mb soundfont, a random GM ensemble per
piece, a smooth random tempo curve around a random global tempo, reverb and noise). Queries:
top-voice excerpts of 6–14 s at the score tempo, as MTD-style note lists. The reserved test
composers of the brief (mozart, haydn, schumann, chopin, schubert, beach, joplin, verdi, weber)
are never used.

    python benchmarks/retrieval_set.py [--out DIR] [--docs 42] [--seed 0]
"""

from __future__ import annotations

import argparse
import csv
import os
from pathlib import Path

import numpy as np

#: Corpus folders drawn from (none of the reserved composers).
COMPOSERS = ("bach", "beethoven", "monteverdi", "palestrina", "josquin", "trecento", "cpebach")
RESERVED = ("mozart", "haydn", "schumann", "chopin", "schubert", "beach", "joplin", "verdi", "weber")
#: GM ensembles documents are played with (programs per part, cycled).
ENSEMBLES = ((40, 41, 42, 42), (0, 0, 0, 0), (19, 19, 19, 19), (68, 71, 70, 58), (48, 48, 48, 48),
             (73, 69, 71, 70), (6, 6, 6, 6))


def corpus_pieces(rng: np.random.Generator, n: int) -> list[Path]:
    from music21 import corpus

    paths = [Path(p) for p in corpus.getPaths()]
    by_comp: dict[str, list[Path]] = {}
    for p in paths:
        parts = p.parts
        comp = parts[parts.index("corpus") + 1] if "corpus" in parts else ""
        if comp in COMPOSERS and not any(r in str(p).lower() for r in RESERVED):
            if p.suffix in (".mxl", ".xml", ".musicxml", ".krn"):
                by_comp.setdefault(comp, []).append(p)
    pools = {c: list(rng.permutation(sorted(by_comp[c]))) for c in sorted(by_comp)}
    out: list[Path] = []
    while len(out) < n and any(pools.values()):
        for comp in sorted(pools):  # round-robin over composers
            if pools[comp] and len(out) < n:
                out.append(Path(pools[comp].pop()))
    return out


def build_one(args) -> list[dict] | str:
    path, out, seed = args
    import soundfile as sf

    from chromatool import defaults as D
    from chromatool.errors import ChromatoolError
    from chromatool.render import TempoCurve, add_noise, add_reverb, find_soundfonts, render
    from chromatool.score import notelist_from_music21

    rng = np.random.default_rng(seed)
    import music21

    try:
        notes = notelist_from_music21(music21.converter.parse(path), source=str(path))
    except (ChromatoolError, Exception) as exc:  # noqa: BLE001 - skip pieces music21 can't read
        return f"{path}: {exc}"
    if len(notes) < 30 or notes.duration < 20:
        return f"{path}: too short"
    name = f"{Path(path).parent.name}_{Path(path).stem}"[:60]
    ens = ENSEMBLES[int(rng.integers(len(ENSEMBLES)))]
    prog = np.array([ens[p % len(ens)] for p in notes.part])
    from dataclasses import replace

    perf = replace(notes, program=prog)
    curve = TempoCurve(notes.duration, rng=rng, scale=float(rng.uniform(0.75, 1.3)), max_ratio=1.25)
    perf = curve.apply(perf)
    fonts = [f for f in find_soundfonts() if "TimGM" in f.name] or find_soundfonts()
    y = render(perf, soundfont=fonts[0], reverb=True)
    y = add_reverb(y, rng=rng, rt60=float(rng.uniform(0.5, 1.5)), wet=0.2)
    y = add_noise(y, snr_db=float(rng.uniform(25, 40)), rng=rng)
    sf.write(out / "docs" / f"{name}.wav", y, D.SAMPLE_RATE, subtype="PCM_16")
    # queries: two top-voice excerpts of 6-14 s
    top = notes.select(notes.part == 0).melody()
    rows = []
    for k in range(2):
        length = rng.uniform(6, 14)
        starts = top.onset[top.onset < top.duration - length]
        if starts.size == 0:
            break
        t0 = float(rng.choice(starts))
        sel = (top.onset >= t0) & (top.offset <= t0 + length)
        if sel.sum() < 5:
            continue
        q = top.select(sel)
        qname = f"{name}_q{k}"
        with open(out / "queries" / f"{qname}.csv", "w") as f:
            f.write("Start;Duration;Pitch\n")
            for a, b, p in zip(q.onset - t0, q.offset - q.onset, q.pitch):
                f.write(f"{a:.4f};{b:.4f};{p}\n")
        rows.append({"query": f"{qname}.csv", "doc": f"{name}.wav"})
    return rows


def build(out: Path, n_docs: int, seed: int, jobs: int) -> Path:
    from concurrent.futures import ProcessPoolExecutor

    (out / "docs").mkdir(parents=True, exist_ok=True)
    (out / "queries").mkdir(exist_ok=True)
    rng = np.random.default_rng(seed)
    pieces = corpus_pieces(rng, n_docs)
    truth = []
    with ProcessPoolExecutor(jobs) as pool:
        for res in pool.map(build_one, [(p, out, seed * 1000 + i) for i, p in enumerate(pieces)]):
            if isinstance(res, str):
                print("skipped", res)
            else:
                truth.extend(res)
    with open(out / "truth.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["query", "doc"])
        w.writeheader()
        w.writerows(truth)
    return out / "truth.csv"


def evaluate(out: Path, features: list[str], jobs: int) -> None:
    from chromatool.evaluation import read_truth, retrieval_scores
    from chromatool.retrieval import retrieve

    truth = read_truth(out / "truth.csv")
    docs = sorted((out / "docs").glob("*.wav"))
    minutes = sum(__import__("soundfile").info(str(d)).duration for d in docs) / 60
    print(f"set: {len(docs)} documents ({minutes:.0f} min), {len(truth)} queries")
    print(f"{'features':<14}{'top-1':>7}{'top-5':>7}{'top-10':>8}{'MRR':>7}")
    for feat in features:
        res = retrieve([out / "queries"], [out / "docs"], features=feat, top=len(docs),
                       cache_root=str(out / "cache"), jobs=jobs)
        ranks: dict[str, dict[str, int]] = {}
        for h in res.hits:
            ranks.setdefault(Path(h.query).stem, {})[Path(h.doc).stem] = h.rank
        s = retrieval_scores(ranks, truth).mean
        print(f"{feat:<14}{s['top-1']:>7.3f}{s['top-5']:>7.3f}{s['top-10']:>8.3f}{s['mrr']:>7.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "chromatool-retrieval-set")
    ap.add_argument("--docs", type=int, default=42)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--features", nargs="+", default=["chroma", "cens", "stft-chroma"])
    args = ap.parse_args()
    if not (args.out / "truth.csv").exists():
        build(args.out, args.docs, args.seed, args.jobs)
    evaluate(args.out, args.features, args.jobs)


if __name__ == "__main__":
    main()
