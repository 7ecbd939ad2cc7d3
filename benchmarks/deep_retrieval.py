"""Theme retrieval with deep chroma against hand-made chroma, side by side, on a rendered set.

The set is a folder written by ``chromatool dataset`` (validation composers only): its
renders are the documents, its top-voice theme excerpts (6–14 s) the queries, and each
query's own render is the relevant document. Rows: hand-made chroma (CQT, STFT), the shipped
ctc-chroma model, and, when ../shared/peers is present, the authors' published weights run
through the very same chromatool pipeline (converted to a checkpoint in a temporary folder;
they are never shipped). Also (``--real-only`` for this alone): the rank of the right Musopen
recording for each of the three real MTD themes, among the four real recordings of
../shared/data and the set's renders as distractors.

    chromatool dataset /tmp/ct_valid --composers beethoven,monteverdi --pieces 200 --seed 1 -j 2
    python benchmarks/deep_retrieval.py /tmp/ct_valid [--model PATH ...]

``--asap``: the set is ``chromatool dataset DIR --asap ../shared/data/asap ...`` (human piano
performances rendered with their pedal); the queries are two top-voice excerpts of 6–14 s of
each performance's score (ASAP's midi_score.mid, the right hand's skyline) from the part the
render plays, at the performance's mean tempo there, so the piano's real timing (rubato,
ritardandi) lies between query and document. (Until session 20 the excerpts were drawn from the
whole score: 10 of the 56 queries of the 300-s renders lay past the render's end, and the tempo
was off by up to 2x.)
"""

from __future__ import annotations

import argparse
import csv
import re
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
PEER = ROOT.parent / "shared" / "peers" / "zalkow2020_ctc_chroma" / "weights_v1_ctc_train123valid4.npz"
REAL = ROOT.parent / "shared" / "data" / "real"


def peer_checkpoint(folder: Path) -> Path | None:
    """The authors' weights as a chromatool checkpoint (for comparison only)."""
    if not PEER.exists():
        return None
    import torch

    from chromatool.deep import checkpoint, feature_config
    from chromatool.models import CTCChroma, load_keras_weights

    model = load_keras_weights(CTCChroma(), dict(np.load(PEER)))
    path = folder / "zalkow2020_v1.pt"
    torch.save(checkpoint(model, feature_config(), {"source": str(PEER)}), path)
    return path


def asap_theme_rows(folder: Path) -> list[dict]:
    """ctc.csv-like rows (audio, theme, transpose 0) for an ASAP render folder: two top-voice
    excerpts of each performance's score, written to ``folder/themes``, drawn from the part of
    the score the render plays (``dataset --asap --max-seconds`` cuts long performances) and
    scaled to the performance's mean tempo over that part (its annotated beats)."""
    from dataclasses import replace

    import pretty_midi

    from chromatool.dataset import RenderSettings
    from chromatool.excerpts import write_excerpts
    from chromatool.labels import read_labels
    from chromatool.performances import beat_map
    from chromatool.score import read_score

    asap = ROOT.parent / "shared" / "data" / "asap"
    with open(asap / "metadata.csv", newline="") as f:
        meta = list(csv.DictReader(f))
    with open(folder / "bce.csv", newline="") as f:
        perf = list(csv.DictReader(f))
    rows, pieces = [], set()
    for i, r in enumerate(perf):
        piece = re.sub(r"_no(_\d)?_repeat$", "", r["group"])  # a repeat-less version is the same music
        if piece in pieces:
            continue
        pieces.add(piece)
        stem = Path(r["audio"]).stem[len(r["group"].split("/")[-1]) + 1:]  # <piece>_<performance>
        m = next(m for m in meta if m["folder"].endswith("/" + r["group"]) and Path(m["midi_performance"]).stem == stem)
        notes = read_score(asap / m["midi_score"])
        played = read_labels(folder / r["labels"])
        hist = lambda p: np.bincount(p, minlength=140)[:140].astype(float)  # noqa: E731
        a, b = hist(played.pitch), hist(read_score(asap / m["midi_performance"]).pitch)
        shift = max(range(-6, 7), key=lambda k: float(a @ np.roll(b, k)))  # the render's transposition
        # the render holds the performance's first len(played) notes: where it was cut
        starts = np.sort([n.start for ins in pretty_midi.PrettyMIDI(str(asap / m["midi_performance"])).instruments
                          for n in ins.notes])
        cut = (starts[len(played) - 1] + starts[len(played)]) / 2 if len(played) < starts.size else np.inf
        score_t, perf_t = beat_map(asap / m["midi_performance"], cut)
        top = notes.top_voice()
        top = top.select((top.onset >= score_t[0]) & (top.offset <= score_t[-1]))
        # ASAP's score MIDI has nominal tempi (often 2x the played one): the query gets the
        # performance's mean tempo, as a theme book's metronome mark would give it
        ratio = (perf_t[-1] - perf_t[0]) / (score_t[-1] - score_t[0])
        top = replace(top, pitch=top.pitch + shift, onset=top.onset * ratio, offset=top.offset * ratio)
        rng = np.random.default_rng([7, i])
        for e in write_excerpts(top, RenderSettings(excerpts=2), rng, folder, Path(r["audio"]).stem):
            rows.append({"audio": r["audio"], "theme": e["theme"], "transpose": "0"})
    return rows


def opus(name: str) -> str:
    """The opus number in a theme's or recording's name (MTD0815_Beethoven_Op002No2-01 → 2)."""
    m = re.search(r"Op0*(\d+)", name)
    return m.group(1) if m else name


def ranks_of(hits) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for h in hits:
        out.setdefault(Path(h.query).stem, {})[Path(h.doc).stem] = h.rank
    return out


def set_documents(args: argparse.Namespace) -> tuple[list[dict], list[Path]]:
    """The set's theme rows and its renders (a random subset of ``--max-docs``)."""
    if args.asap:
        rows = asap_theme_rows(args.set)
    else:
        with open(args.set / "ctc.csv", newline="") as f:
            rows = list(csv.DictReader(f))
    docs = sorted({args.set / r["audio"] for r in rows})
    if args.max_docs and len(docs) > args.max_docs:
        docs = [docs[i] for i in sorted(np.random.default_rng(0).choice(len(docs), args.max_docs, replace=False))]
        rows = [r for r in rows if args.set / r["audio"] in docs]
    return rows, docs


def evaluate_set(args: argparse.Namespace, rows: list[dict], docs: list[Path],
                 runs: list[tuple[str, str, str | None, str]]) -> None:
    """Each run's retrieval figures on the rendered set (its themes against its renders)."""
    from chromatool.evaluation import retrieval_scores
    from chromatool.retrieval import retrieve

    tmp = Path(tempfile.mkdtemp(prefix="chromatool-bench-"))
    (tmp / "queries").mkdir()
    queries = []
    for r in rows:  # the renders are transposed: the query is the theme in the render's key
        lines = (args.set / r["theme"]).read_text().splitlines()
        q = tmp / "queries" / Path(r["theme"]).name
        q.write_text("\n".join([lines[0]] + [f"{a};{b};{int(p) + int(r['transpose'])}"
                                             for a, b, p in (ln.split(";") for ln in lines[1:]) if float(b) > 0]) + "\n")
        queries.append(q)
    truth = {Path(r["theme"]).stem: Path(r["audio"]).stem for r in rows}
    import soundfile as sf

    minutes = sum(sf.info(str(d)).duration for d in docs) / 60
    print(f"set {args.set}: {len(docs)} documents ({minutes:.0f} min), {len(queries)} queries")
    print(f"{'features':<36}{'top-1':>7}{'top-5':>7}{'top-10':>8}{'MRR':>7}{'seconds':>9}")
    for label, feat, model, precision in runs:
        t = time.perf_counter()
        res = retrieve(queries, docs, features=feat, model=model, top=len(docs),
                       cache_root=str(tmp / "cache"), jobs=args.jobs, precision=precision)
        s = retrieval_scores(ranks_of(res.hits), truth).mean
        print(f"{label:<36}{s['top-1']:>7.3f}{s['top-5']:>7.3f}{s['top-10']:>8.3f}{s['mrr']:>7.3f}"
              f"{time.perf_counter() - t:>9.1f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("set", type=Path, help="folder written by `chromatool dataset`")
    ap.add_argument("--model", action="append", default=[],
                    help="ctc-chroma model file to test, repeatable (default: the packaged one)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--max-docs", type=int, default=None, help="a random subset of the renders (seed 0)")
    ap.add_argument("--asap", action="store_true", help="the set is ASAP performances (see above)")
    ap.add_argument("--real-only", action="store_true", help="only the real recordings' themes")
    ap.add_argument("--precision", action="append", default=[],
                    help="the deep rows' arithmetic (repeatable: each deep row once per value; default auto)")
    ap.add_argument("--fused", action="store_true",
                    help="also the melody chroma and the fused features (retrieve --features fused: its packaged "
                         "models, and each model given in place of its two deep chromas)")
    ap.add_argument("--models-only", action="store_true",
                    help="skip the hand-made and the authors' rows (quick checks during training)")
    args = ap.parse_args()

    from chromatool.retrieval import retrieve

    tmp = Path(tempfile.mkdtemp(prefix="chromatool-bench-"))
    from chromatool.deep import packaged_models

    runs = [] if args.models_only else [("CQT chroma (hand-made)", "chroma", None, "auto"),
                                        ("STFT chroma (hand-made)", "stft-chroma", None, "auto")]
    deep = [(f"ctc-chroma {Path(m).name}", m) for m in args.model]
    if not args.model:
        deep += [(f"{name} (packaged)", None if name == "ctc-chroma" else name)
                 for name in ("ctc-chroma", "ctc-chroma-large") if name in packaged_models()]
    peer = None if args.models_only else peer_checkpoint(tmp)
    if peer is not None:
        deep.append(("authors' weights (Zalkow 2020 v1)", str(peer)))
    precisions = args.precision or ["auto"]
    runs += [(label + (f" {p}" if len(precisions) > 1 else ""), "deep", m, p) for label, m in deep for p in precisions]
    if args.fused:
        runs.append(("melody chroma (packaged multipitch)", "melody", None, "auto"))
        runs += [("fused: ctc-chroma + ctc-chroma-large + melody" if m is None else f"fused: {label} + melody",
                  "fused", m, "auto") for label, m in deep if m != "ctc-chroma-large"]  # a model replaces both
    rows, docs = set_documents(args)
    if not args.real_only:
        evaluate_set(args, rows, docs, runs)
    if (REAL / "musopen").exists():
        themes = sorted((REAL / "mtd_themes").glob("*.csv"))
        real = sorted((REAL / "musopen").glob("*.wav")) + sorted((REAL / "chopin_op10-3").glob("*.wav"))
        pool = real + docs
        print(f"\nreal MTD themes against {len(real)} real recordings and the set's {len(pool) - len(real)} renders:")
        for label, feat, model, precision in runs:
            res = retrieve(themes, pool, features=feat, model=model, top=len(pool),
                           cache_root=str(tmp / "cache"), jobs=args.jobs, precision=precision)
            rank = {Path(h.query).stem.split("_", 3)[-1]: h.rank for h in res.hits
                    if opus(Path(h.query).stem.split("_", 3)[-1]) == opus(Path(h.doc).stem)
                    and Path(h.doc).parent == REAL / "musopen"}
            right = sum(r == 1 for r in rank.values())
            print(f"  {label:<36}{right} of {len(themes)} at rank 1  (ranks "
                  + ", ".join(f"{q.split('_')[0]}: {r}" for q, r in sorted(rank.items())) + ")")


if __name__ == "__main__":
    main()
