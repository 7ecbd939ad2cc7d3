"""The ``retrieve``, ``align`` and ``evaluate`` commands (thin wrappers over the library)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from . import defaults as D
from .device import resolve_device
from .cli import (
    Device, FeatureRate, Jobs, Null, Overwrite, Precision, Scheduler, SkipExisting, Tuning, _choice, _errors,
    _local_or_cluster, _report_batch, _say, _stderr, _stdout, _tuning, app, command, progress_bar,
)


# ---------------------------------------------------------------------------------------------
# retrieve
# ---------------------------------------------------------------------------------------------

OUTPUT_FORMATS = ("auto", "table", "tsv", "json", "jsonl")


@command("retrieve")
def retrieve_cmd(
    paths: Annotated[list[Path], typer.Argument(help="QUERY... DOCS: theme files or folders of them (recordings with --features embedding), then the database (a folder, searched recursively, one recording, or an index built by `chromatool index build`).", metavar="QUERY... DOCS")],
    top: Annotated[int, typer.Option("--top", "-k", min=1, help="Documents listed per query.")] = D.RETRIEVE_TOP_K,
    features: Annotated[Optional[str], typer.Option("--features", help=f"Document features: chroma (CQT) | stft-chroma | cens | deep (CTC deep chroma of a trained model) | melody (the top line of the multipitch model's salience) | fused (two packaged deep chromas and melody, their DTW costs mixed) | embedding (audio queries: recording excerpts against recordings, by a cross-version embedding). Default {D.RETRIEVE_FEATURES}; an index's own.")] = None,
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="With --features deep, fused (in place of its two deep chromas), melody or embedding: packaged model name or .pt file (default: the packaged ctc-chroma, multipitch, or cross-version).")] = None,
    transpose: Annotated[bool, typer.Option("--transpose", metavar="", help="Try all 12 chroma shifts of each query; report the best.")] = False,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table | tsv | json | jsonl (auto: a table on a terminal, tsv in a pipe).")] = "auto",
    cache: Annotated[Optional[Path], typer.Option("--cache", help="Feature cache folder (default: $CHROMATOOL_CACHE or the user cache dir).")] = None,
    strict: Annotated[bool, typer.Option("--strict", metavar="", help="Stop at the first unreadable document.")] = False,
    feature_rate: Annotated[Optional[float], typer.Option("--feature-rate", help=f"Frames per second of the features (default {D.FEATURE_RATE:g}; with --features deep the model's).")] = None,
    device: Device = "auto",
    jobs: Jobs = 1,
    tuning: Tuning = D.TUNING,
    precision: Precision = D.INFERENCE_PRECISION,
    files_from: Annotated[Optional[str], typer.Option("--files-from", help="Read the database's recordings from this file list (- for stdin); every argument is then a query.", metavar="FILE")] = None,
    null: Null = False,
    candidates: Annotated[int, typer.Option("--candidates", min=1, help="With an index: recordings the index proposes per query for the exact ranking.")] = D.INDEX_CANDIDATES,
) -> None:
    """Rank recordings for symbolic theme queries (subsequence DTW on chroma).

    Queries are any score format chromatool reads (MIDI, MusicXML, kern, ABC, MTD note lists);
    the query's binary chroma at its own tempo is matched against each recording's features.
    Document features are cached, so a second query over the same folder computes none.
    Times are in seconds; cost is the DTW cost normalised by query length (lower is better).

    **Examples**

        chromatool retrieve theme.mid recordings/
        chromatool retrieve themes/ recordings/ --top 5 --format jsonl | head
        chromatool retrieve theme.csv recordings/ --features deep --transpose
        chromatool retrieve themes/ archive.ctx --candidates 100   # an index (chromatool index build)
        chromatool retrieve excerpt.wav recordings/ --features embedding   # audio to audio
    """
    from .retrieval import RETRIEVAL_FEATURES, retrieve

    if files_from:
        from .io import read_file_list

        queries, database = [str(p) for p in paths], read_file_list(files_from, null=null)
        if not queries:
            raise typer.BadParameter("give at least one query", param_hint="QUERY...")
    elif len(paths) < 2:
        raise typer.BadParameter("give at least one query and the database", param_hint="QUERY... DOCS")
    if features is not None:
        _choice(features, RETRIEVAL_FEATURES, "--features")
    _choice(fmt, OUTPUT_FORMATS, "--format")
    _choice(precision, D.INFERENCE_PRECISIONS, "--precision")
    dev = resolve_device(device)
    from .retrieval import collect_documents

    if not files_from:
        queries, database = [str(p) for p in paths[:-1]], [str(paths[-1])]
        from .index import is_index

        if is_index(database[0]):
            res = _search_index(queries, database[0], features=features, model=model, top=top,
                                transpose=transpose, candidates=candidates, device=dev)
            _say(f"{res.n_docs} documents in the index, {res.n_queries} queries")
            return _print_hits(res.hits, fmt)
    doc_files = collect_documents(database)  # scanned once: the count sizes the progress bar
    with progress_bar(len(doc_files), "document features") as cb:
        res = retrieve(queries, doc_files, features=features or D.RETRIEVE_FEATURES, top=top, transpose=transpose,
                       feature_rate=feature_rate, cache_root=str(cache) if cache else None,
                       device=dev, jobs=jobs, strict=strict, model=model, on_done=cb,
                       tuning=_tuning(tuning), precision=precision)
    for doc, msg in res.skipped:
        _stderr().print(f"[yellow]skipped:[/yellow] {msg}", highlight=False, soft_wrap=True)
    for doc, msg in res.unmatched:
        _stderr().print(f"[yellow]unmatched:[/yellow] {msg}", highlight=False, soft_wrap=True)
    _say(f"{res.n_docs - len(res.skipped)} documents ({res.cache_hits} from cache), {res.n_queries} queries")
    _print_hits(res.hits, fmt)


def _search_index(queries: list[str], index: str, *, features: Optional[str], model: Optional[str],
                  top: int, transpose: bool, candidates: int, device: str):
    from .index import ThemeIndex
    from .index_search import search_index

    ix = ThemeIndex(index)
    kind = ix.meta["features"]["kind"]
    if features is not None and features != kind:
        raise typer.BadParameter(f"{index} indexes {kind} features; leave --features out or build an index "
                                 f"with --features {features}", param_hint="--features")
    if model is not None:
        raise typer.BadParameter("an index searches with the model it was built with", param_hint="--model")
    return search_index(queries, ix, top=top, transpose=transpose, candidates_per_query=candidates,
                        device=device)


def _print_hits(hits: list[Any], fmt: str) -> None:
    try:
        _render_hits(hits, fmt)
    except BrokenPipeError:  # the reader stopped (| head): end quietly, as Unix tools do
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(0) from None


def _render_hits(hits: list[Any], fmt: str) -> None:
    import json

    out = _stdout()
    if fmt == "auto":
        fmt = "table" if out.is_terminal else "tsv"
    if fmt == "jsonl":
        for h in hits:
            typer.echo(json.dumps(h.to_dict()))
    elif fmt == "json":
        typer.echo(json.dumps([h.to_dict() for h in hits], indent=2))
    elif fmt == "tsv":
        typer.echo("query\trank\tdoc\tcost\tstart\tend\ttransposition")
        for h in hits:
            typer.echo(f"{h.query}\t{h.rank}\t{h.doc}\t{h.cost:.4f}\t{h.start:.2f}\t{h.end:.2f}\t{h.transposition}")
    else:
        from rich.table import Table

        for q in dict.fromkeys(h.query for h in hits):
            t = Table(title=Path(q).name, title_justify="left")
            for col in ("rank", "document", "cost", "start (s)", "end (s)", "transp."):
                t.add_column(col, justify="left" if col == "document" else "right")
            for h in (h for h in hits if h.query == q):
                t.add_row(str(h.rank), Path(h.doc).name, f"{h.cost:.4f}", f"{h.start:.2f}",
                          f"{h.end:.2f}", f"{h.transposition:+d}")
            out.print(t)


# ---------------------------------------------------------------------------------------------
# align
# ---------------------------------------------------------------------------------------------


@command("align")
def align_cmd(
    inputs: Annotated[list[Path], typer.Argument(help="SCORE AUDIO, or a folder of scores and a folder of recordings (matched by stem), or a CSV of score,audio,output rows.", metavar="SCORE AUDIO | SCORES/ AUDIO/ | PAIRS.csv")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Label CSV (one pair) or output folder (batches).")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="chromatool (seconds, beats, measure, note value) or musicnet (44.1 kHz samples, MusicNet columns).")] = "chromatool",
    path_file: Annotated[Optional[Path], typer.Option("--path", help="Also save the warping path (score_time,audio_time in seconds) as CSV.")] = None,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Also draw the cost matrix with the path, and the aligned notes over the chroma (PNG).")] = None,
    synthesis: Annotated[str, typer.Option("--synthesis", help="auto (FluidSynth when installed) | fluidsynth | notes.")] = "auto",
    soundfont: Annotated[Optional[Path], typer.Option("--soundfont", help="General MIDI soundfont for the score rendering.")] = None,
    feature_rate: FeatureRate = D.ALIGN_FEATURE_RATE,
    overwrite: Overwrite = False,
    jobs: Jobs = 1,
    tuning: Tuning = D.TUNING,
    force: Annotated[bool, typer.Option("--force", metavar="", help="Align even when the score and recording durations are too far apart to be one performance.")] = False,
    repeats: Annotated[str, typer.Option("--repeats", help="auto: a repeat the score writes out but the recording plays once is found and left out of the labels (with a warning) | as-written: align the score as it is.")] = "auto",
    skip_existing: SkipExisting = False,
    scheduler: Scheduler = None,
) -> None:
    """Align scores to recordings by DTW and write MusicNet-style note labels.

    The score is rendered with FluidSynth and a General MIDI soundfont; chroma and chroma-onset
    features of both sides (the recording's centred on its tuning) are aligned by
    multiresolution DTW, each onset is moved to an onset of its pitches nearby (chosen for all
    notes at once, keeping a steady pulse), and every score note is carried to recording time.
    A repeat the score writes out and the recording plays once is left out (named in a
    warning). High alignment cost (a different piece, a repeat the score lacks) is reported as a
    warning with the stretch of the recording concerned.

    **Examples**

        chromatool align score.mid rec.wav -o labels.csv --plot check.png
        chromatool align scores/ recordings/ -o labels/ --format musicnet --skip-existing
        chromatool align score.musicxml rec.flac -o labels.csv --tuning -20
        chromatool align /shared/scores/ /shared/recordings/ -o /shared/labels/ --scheduler tcp://head:8786
    """
    from .align_batch import AlignTask, plan_align_tasks, run_align_tasks
    from .align_features import SYNTHESES
    from .alignment import REPEATS
    from .labels import LABEL_FORMATS
    from .render import can_render

    _local_or_cluster(jobs, scheduler)
    _choice(fmt, LABEL_FORMATS, "--format")
    _choice(synthesis, SYNTHESES, "--synthesis")
    _choice(repeats, REPEATS, "--repeats")
    if synthesis == "auto" and not can_render():
        _stderr().print("[yellow]warning:[/yellow] FluidSynth or a soundfont is missing: aligning "
                        "against features made from the score's notes", highlight=False)
    tasks, skipped = plan_align_tasks([str(p) for p in inputs], output, fmt=fmt, feature_rate=feature_rate,
                                      synthesis=synthesis, soundfont=str(soundfont) if soundfont else None,
                                      overwrite=overwrite, tuning=_tuning(tuning), force=force,
                                      skip_existing=skip_existing, repeats=repeats)
    if len(tasks) + len(skipped) == 1:
        tasks = [AlignTask(**{**t.__dict__, "path_file": path_file, "plot": plot}) for t in tasks]
    elif path_file or plot:
        raise typer.BadParameter("--path and --plot go with a single score and recording")
    with progress_bar(len(tasks), "aligning") as cb:
        report = run_align_tasks(tasks, jobs=jobs, on_done=cb, scheduler=scheduler)
    for src, msg in report.warnings:
        _stderr().print(f"[yellow]warning:[/yellow] {src}: {msg}", highlight=False, soft_wrap=True)
    _report_batch(len(tasks), report.failures, "alignments", len(skipped))


# ---------------------------------------------------------------------------------------------
# evaluate
# ---------------------------------------------------------------------------------------------

evaluate_app = typer.Typer(help="Evaluate results against ground truth.", no_args_is_help=True)
app.add_typer(evaluate_app, name="evaluate")


@command("retrieval", on=evaluate_app)
def evaluate_retrieval_cmd(
    results: Annotated[Path, typer.Argument(help="Output of `chromatool retrieve --format jsonl`.")],
    truth: Annotated[Path, typer.Argument(help="CSV with columns query,doc (matched by file stem).")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="table | json.")] = "table",
) -> None:
    """Top-1/5/10/20/50 and mean reciprocal rank per query and averaged (Zalkow & Müller Table 4).

    A relevant document that is not in the results counts as not found: run retrieve with a
    --top at least as large as the largest cut-off you want to read.

    **Examples**

        chromatool retrieve themes/ recordings/ --format jsonl > results.jsonl
        chromatool evaluate retrieval results.jsonl truth.csv
    """
    import json

    from .evaluation import TOP_KS, read_results, read_truth, retrieval_scores

    _choice(fmt, ("table", "json"), "--format")
    with _errors():
        scores = retrieval_scores(read_results(results), read_truth(truth))
    if fmt == "json":
        typer.echo(json.dumps({"mean": scores.mean, "per_query": scores.per_query}, indent=2))
        return
    from rich.table import Table

    cols = [f"top-{k}" for k in TOP_KS]
    t = Table(title=f"retrieval: {scores.mean['queries']} queries")
    for c in ["query", "rank"] + cols + ["RR"]:
        t.add_column(c, justify="left" if c == "query" else "right")
    for r in scores.per_query:
        t.add_row(r["query"], str(r["rank"] or "-"), *[f"{r[c]:.0f}" for c in cols], f"{r['rr']:.3f}")
    t.add_row("mean", "", *[f"{scores.mean[c]:.3f}" for c in cols], f"{scores.mean['mrr']:.3f}", style="bold")
    _stdout().print(t)
    if scores.max_rank_listed < max(TOP_KS):
        _say(f"note: results list at most {scores.max_rank_listed} documents per query; "
             f"top-K above that counts only what is listed")


@command("pitch", on=evaluate_app)
def evaluate_pitch_cmd(
    inputs: Annotated[list[Path], typer.Argument(help="Pairs AUDIO LABELS [AUDIO LABELS ...] (labels: a CSV from `align`, MusicNet's CSV, or a performance MIDI), or one CSV manifest with audio,labels columns.", metavar="AUDIO LABELS... | MANIFEST.csv")],
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Packaged model name or .pt file (default: the packaged multipitch model).")] = None,
    threshold: Annotated[list[float], typer.Option("--threshold", min=0.0, max=1.0, help=f"Activation from which a semitone counts as sounding (default {D.PITCH_THRESHOLD:g}); repeat it to score several from one run of the model: one pooled row each.")] = [D.PITCH_THRESHOLD],  # noqa: B006
    fmt: Annotated[str, typer.Option("--format", "-f", help="table | json.")] = "table",
    device: Device = "auto",
    tuning: Tuning = D.TUNING,
) -> None:
    """Frame-level multi-pitch precision, recall and F (mir_eval) of a multipitch model.

    Each recording goes through the model as `extract --kind pitch` runs it (its tuning
    estimated unless --tuning gives it); its thresholded 72-semitone activations (C1–B6, 25
    frames per second) are compared with the reference notes frame by frame. The last row pools
    all frames of all files.

    **Examples**

        chromatool evaluate pitch rec.wav labels.csv
        chromatool evaluate pitch a.wav a.csv b.wav b.mid --model my.pt
        chromatool evaluate pitch tune/bce.csv --threshold 0.3 --threshold 0.4 --threshold 0.5
    """
    import json

    from .deep import load_model
    from .evaluation import evaluate_pitch_thresholds, pitch_evaluation_pairs, pooled_f

    _choice(fmt, ("table", "json"), "--format")
    dev = resolve_device(device)
    pairs = pitch_evaluation_pairs([str(p) for p in inputs])
    lm = load_model(model, output="pitch", device=dev)
    thresholds = list(dict.fromkeys(threshold))
    with progress_bar(len(pairs), "multi-pitch") as cb:
        rows = evaluate_pitch_thresholds(pairs, lm, thresholds=thresholds, device=dev, tuning=_tuning(tuning), on_done=cb)
    total = {t: pooled_f(r) for t, r in rows.items()}
    if fmt == "json":
        runs = [{"model": lm.source, "threshold": t, "files": rows[t], "pooled": total[t]} for t in thresholds]
        typer.echo(json.dumps(runs[0] if len(runs) == 1 else runs, indent=2))
        return
    from rich.table import Table

    if len(thresholds) > 1:
        t = Table(title=f"multi-pitch, {Path(lm.source).name}", caption=f"all frames of {len(pairs)} recording{'s' if len(pairs) != 1 else ''}")
        for c in ("threshold", "P", "R", "F"):
            t.add_column(c, justify="right")
        best = max(thresholds, key=lambda th: total[th]["f"])
        for th in thresholds:
            t.add_row(f"{th:g}", *(f"{total[th][k]:.3f}" for k in ("precision", "recall", "f")),
                      style="bold" if th == best else None)
        _stdout().print(t)
        return
    th = thresholds[0]
    files, pooled = rows[th], total[th]
    t = Table(title=f"multi-pitch, frame level ({Path(lm.source).name}, threshold {th:g})")
    for c in ("recording", "frames", "P", "R", "F", "Acc"):
        t.add_column(c, justify="left" if c == "recording" else "right")
    for r in files:
        t.add_row(Path(r["audio"]).name, str(r["frames"]), f"{r['precision']:.3f}", f"{r['recall']:.3f}",
                  f"{r['f']:.3f}", f"{r['accuracy']:.3f}")
    t.add_row("all frames", str(sum(r["frames"] for r in files)), f"{pooled['precision']:.3f}",
              f"{pooled['recall']:.3f}", f"{pooled['f']:.3f}", "", style="bold")
    _stdout().print(t)
