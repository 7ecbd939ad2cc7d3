"""Cross-version embeddings against the single-version baseline and a supervised reference, on
renders of composers held out from training (chromatool dataset --versions).

1. The probe of Krause, Weiß & Müller's poster (chromatool evaluate probe): an MLP on frozen
   embeddings of half the pieces, tested on the other half, for instrument families and pitch
   classes (AP / AUC / F1); the supervised row is the same MLP on the log-HCQT itself.
2. Audio-to-audio retrieval: an 8-s excerpt of one version of each piece (from its middle)
   against the other version of every piece, by subsequence DTW on each representation
   (cross-version and single-version embeddings, and CQT chroma): top-1 and MRR.

    python benchmarks/cross_version.py TEST/versions.csv --cv CV.pt --sv SV.pt
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path



def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("manifest", type=Path)
    ap.add_argument("--cv", required=True)
    ap.add_argument("--sv", required=True)
    ap.add_argument("--seconds", type=float, default=8.0)
    args = ap.parse_args()

    import soundfile as sf

    from chromatool.manifests import read_versions
    from chromatool.probe import TASKS, probe, split_items
    from chromatool.retrieval import document_features, rank

    items = read_versions(args.manifest)
    pieces = sorted({it.piece for it in items})
    print(f"set: {len(items)} recordings, {len(pieces)} pieces ({args.manifest})")
    train, test = split_items(items, seed=0)
    rows = probe(train, test, {"CV": args.cv, "SV": args.sv, "supervised (HCQT)": None})
    print(f"\nprobe: {len(train)} recordings to train, {len(test)} to test")
    print(f"{'':<20}" + "".join(f"{t[:11] + ' ' + m:>18}" for t in TASKS for m in ("AP", "AUC", "F1")))
    for r in rows:
        print(f"{r.name:<20}" + "".join(f"{r.scores[t][m]:>18.3f}" for t in TASKS for m in ("AP", "AUC", "F1")))
    cv, sv = rows[0].scores["instruments"], rows[1].scores["instruments"]
    print(f"instrument AP: CV - SV {cv['AP'] - sv['AP']:+.3f} (poster +0.045); "
          f"supervised - CV {rows[2].scores['instruments']['AP'] - cv['AP']:+.3f} (target within 0.06)")

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
        mid, n = len(y) // 2, int(args.seconds * sr)
        sf.write(work / "queries" / f"{p}.wav", y[max(0, mid - n // 2): mid + n // 2], sr)
        (work / "docs" / f"{p}.wav").symlink_to(Path(vs[1].audio).resolve())
    print(f"\naudio-to-audio retrieval: {len(list((work / 'queries').iterdir()))} excerpts of {args.seconds:g} s "
          "against the other versions")
    print(f"{'features':<22}{'top-1':>7}{'MRR':>7}")
    qfiles, dfiles = sorted((work / "queries").iterdir()), sorted((work / "docs").iterdir())
    for name, feats, model in (("CV embedding", "embedding", args.cv), ("SV embedding", "embedding", args.sv),
                               ("CQT chroma", "chroma", None)):
        def features(files):
            out = document_features(files, kind=feats, model=model, tuning=0, cache_root=str(work / "cache"))
            return [(str(p), r[0].data) for p, r in zip(files, out)]

        hits = rank(features(qfiles), features(dfiles), top=len(dfiles))
        rr = {h.query: 1 / h.rank for h in hits if Path(h.doc).stem == Path(h.query).stem}
        top1 = sum(v == 1 for v in rr.values()) / len(qfiles)
        print(f"{name:<22}{top1:>7.3f}{sum(rr.values()) / len(qfiles):>7.3f}")

if __name__ == "__main__":
    main()
