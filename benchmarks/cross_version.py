"""Cross-version embeddings against the single-version baseline and a supervised reference, on
renders of composers held out from training (chromatool dataset --versions).

1. The probe of Krause, Weiß & Müller's poster (chromatool evaluate probe): an MLP on frozen
   embeddings of half the pieces, tested on the other half, for instrument families and pitch
   classes (AP / AUC / F1); the supervised row is the same MLP on the log-HCQT itself.
2. Audio-to-audio retrieval: an 8-s excerpt of one version of each piece (from its middle)
   against the other version of every piece, by subsequence DTW on each representation
   (cross-version and single-version embeddings, and CQT chroma): top-1 and MRR.

    python benchmarks/cross_version.py TEST/versions.csv --cv CV.pt --sv SV.pt
    python benchmarks/cross_version.py ASAP/versions.csv --cv CV.pt --sv SV.pt --retrieval-only

The second is the same retrieval between real pianists' performances of one piece (rendered
with their own timing, dynamics and pedal: chromatool dataset ASAP --asap ... --versions 2).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

REAL_PAIR = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "real" / "chopin_op10-3"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("manifest", type=Path)
    ap.add_argument("--cv", required=True)
    ap.add_argument("--sv", required=True)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--splits", type=int, default=10,
                    help="random piece splits the probe is trained and tested on (mean ± sd; 1: the first only)")
    ap.add_argument("--retrieval-only", action="store_true",
                    help="skip the probe (a set of one instrument, e.g. ASAP's pianists: dataset --asap --versions 2)")
    ap.add_argument("--no-supervised", action="store_true",
                    help="skip the supervised row (the same for every pair of models: quicker comparisons)")
    args = ap.parse_args()

    from chromatool.manifests import read_versions

    items = read_versions(args.manifest)
    pieces = sorted({it.piece for it in items})
    print(f"set: {len(items)} recordings, {len(pieces)} pieces ({args.manifest})")
    if not args.retrieval_only:
        run_probe(items, args.cv, args.sv, args.splits, supervised=not args.no_supervised)
    retrieval(items, args.cv, args.sv, args.seconds)
    if REAL_PAIR.is_dir():
        real_pair(args.cv, args.sv)


def run_probe(items, cv_model: str, sv_model: str, splits: int, *, supervised: bool = True) -> None:
    import numpy as np

    from chromatool.probe import TASKS, probe_splits, repeated_splits

    parts = repeated_splits(items, splits)
    models = {"CV": cv_model, "SV": sv_model, **({"supervised (HCQT)": None} if supervised else {})}
    rows = probe_splits(parts, models)
    print(f"\nprobe: {len(parts[0][0])} recordings to train, {len(parts[0][1])} to test; "
          f"mean ± sd over {splits} random piece splits")
    print(f"{'':<20}" + "".join(f"{t[:11] + ' ' + m:>18}" for t in TASKS for m in ("AP", "AUC", "F1")))
    for r in rows:
        print(f"{r.name:<20}" + "".join(f"{r.scores[t][m]:>11.3f} ±{r.spread.get(t, {}).get(m, 0):.3f}"
                                        for t in TASKS for m in ("AP", "AUC", "F1")))
    cv, sv = (np.array([run["instruments"]["AP"] for run in r.runs]) for r in rows[:2])
    diff = cv - sv  # paired: the same split
    print(f"instrument AP: CV - SV {diff.mean():+.3f} ± {diff.std():.3f} (CV ahead in {np.sum(diff > 0)} of "
          f"{diff.size} splits; poster +0.045)")
    if supervised:
        sup = np.array([run["instruments"]["AP"] for run in rows[2].runs])
        print(f"supervised - CV {(sup - cv).mean():+.3f} (target within 0.06)")


def retrieval(items, cv_model: str, sv_model: str, seconds: float) -> None:
    """Each piece's first version, an excerpt around the middle of the score both versions
    cover, against the second versions of all pieces."""
    import numpy as np
    import soundfile as sf

    from chromatool.retrieval import document_features, rank

    by_piece: dict[str, list] = {}
    for it in items:
        by_piece.setdefault(it.piece, []).append(it)
    work = Path(tempfile.mkdtemp())
    (work / "queries").mkdir()
    (work / "docs").mkdir()
    for p, vs in by_piece.items():
        if len(vs) < 2:
            continue
        y, sr = sf.read(vs[0].audio)
        a, b = vs[0].timemap, vs[1].timemap
        score_mid = (max(a[0, 0], b[0, 0]) + min(a[0, -1], b[0, -1])) / 2
        mid, n = int(np.interp(score_mid, a[0], a[1]) * sr), int(seconds * sr)
        sf.write(work / "queries" / f"{p}.wav", y[max(0, mid - n // 2): mid + n // 2], sr)
        (work / "docs" / f"{p}.wav").symlink_to(Path(vs[1].audio).resolve())
    print(f"\naudio-to-audio retrieval: {len(list((work / 'queries').iterdir()))} excerpts of {seconds:g} s "
          "against the other versions")
    print(f"{'features':<22}{'top-1':>7}{'MRR':>7}")
    qfiles, dfiles = sorted((work / "queries").iterdir()), sorted((work / "docs").iterdir())
    for name, feats, model in (("CV embedding", "embedding", cv_model), ("SV embedding", "embedding", sv_model),
                               ("CQT chroma", "chroma", None)):
        def features(files):
            out = document_features(files, kind=feats, model=model, tuning=0, cache_root=str(work / "cache"))
            return [(str(p), r[0].data) for p, r in zip(files, out)]

        hits = rank(features(qfiles), features(dfiles), top=len(dfiles))
        rr = {h.query: 1 / h.rank for h in hits if Path(h.doc).stem == Path(h.query).stem}
        top1 = sum(v == 1 for v in rr.values()) / len(qfiles)
        print(f"{name:<22}{top1:>7.3f}{sum(rr.values()) / len(qfiles):>7.3f}")


def real_pair(cv_model: str, sv_model: str) -> None:
    """Two real recordings of one piece (Chopin Op. 10 No. 3, bars 1-8: Igoshina and Varsi)
    aligned to each other by full DTW on each representation, against the correspondence
    through the score (each recording aligned to the MIDI score by ``chromatool align``) at the
    score's onsets."""
    import numpy as np

    from chromatool.alignment import align, path_time_map
    from chromatool.dtw import cost_matrix_cosine, dtw
    from chromatool.retrieval import document_features
    from chromatool.score import read_score

    score = next(REAL_PAIR.glob("*_MIDI.mid"))
    a_wav, b_wav = (next(REAL_PAIR.glob(f"*_{take}.wav")) for take in ("Igoshina", "Varsi"))
    s_times = np.unique(read_score(score).onset)
    ta, tb = (align(score, w).to_recording(s_times) for w in (a_wav, b_wav))
    print(f"\nreal pair: {a_wav.stem} against {b_wav.stem}, {s_times.size} score onsets "
          "(truth: both recordings aligned to the score)")
    print(f"{'features':<22}{'median':>8}{'<=100 ms':>10}{'<=200 ms':>10}{'<=500 ms':>10}")
    for name, feats, model in (("CV embedding", "embedding", cv_model), ("SV embedding", "embedding", sv_model),
                               ("CQT chroma", "chroma", None)):
        fa, fb = (r[0] for r in document_features([a_wav, b_wav], kind=feats, model=model))
        _, _, wp = dtw(cost_matrix_cosine(fa.data, fb.data))
        rows, means = path_time_map(wp)
        err = np.abs(np.interp(ta * fa.feature_rate, rows, means) / fb.feature_rate - tb)
        print(f"{name:<22}{1000 * np.median(err):>6.0f}ms{np.mean(err <= 0.1):>10.1%}{np.mean(err <= 0.2):>10.1%}{np.mean(err <= 0.5):>10.1%}")


if __name__ == "__main__":
    main()
