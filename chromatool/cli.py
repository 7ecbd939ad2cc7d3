"""The ``chromatool`` command line: thin Typer commands over the library.

Each command parses its options, calls one library function, and renders the result. Known
errors (``ChromatoolError``) become one red line on stderr and exit code 1; ``--debug`` shows
the traceback. Heavy modules (numpy, librosa, torch) are imported inside the commands so that
``--help`` stays fast.
"""

from __future__ import annotations

import functools
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Callable, Iterator, Optional

import typer
from rich.console import Console

from . import __version__
from . import defaults as D
from .dataset import RenderSettings
from .training import TrainConfig

app = typer.Typer(
    name="chromatool",
    help="Chroma features, score-to-audio alignment and theme retrieval for classical music.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)


class _State:
    debug: bool = False
    quiet: bool = False


STATE = _State()


def _stderr() -> Console:
    return Console(stderr=True)


def _stdout() -> Console:
    return Console()


# ---------------------------------------------------------------------------------------------
# Shared options, declared once
# ---------------------------------------------------------------------------------------------

FeatureRate = Annotated[float, typer.Option("--feature-rate", help="Frames per second of the features.")]
Device = Annotated[str, typer.Option("--device", help="auto (CUDA when present), cpu or cuda.")]
Overwrite = Annotated[bool, typer.Option("--overwrite", metavar="", help="Replace existing outputs.")]
Jobs = Annotated[int, typer.Option("--jobs", "-j", min=1, help="Parallel worker processes (CPU).")]
SkipExisting = Annotated[bool, typer.Option("--skip-existing", metavar="", help="Keep outputs that already exist (complete: they are written atomically) and count them as skipped: an interrupted batch finishes with the same command plus this flag.")]
FilesFrom = Annotated[Optional[str], typer.Option("--files-from", help="Also read input paths from this file, one per line (- for stdin).", metavar="FILE")]
Null = Annotated[bool, typer.Option("--null", "-0", metavar="", help="With --files-from: paths are NUL-separated (find -print0).")]
Tuning = Annotated[str, typer.Option("--tuning", help="Recording tuning: auto (estimate each file's deviation from A440 and centre the filters on it), or cents to force, e.g. 0 or -15.")]


def _tuning(value: str) -> str | float:
    """--tuning as the library takes it: "auto" or a number of cents (checked)."""
    from .errors import ParameterError
    from .tuning import resolve_tuning

    if value.strip().lower() == "auto":
        return "auto"
    try:
        return resolve_tuning(value)
    except ParameterError as exc:
        raise typer.BadParameter(str(exc), param_hint="--tuning") from None


def _choice(value: str, choices: tuple[str, ...], option: str) -> str:
    if value not in choices:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(choices)}", param_hint=option)
    return value


#: Library parameter settings as they appear in error messages → the CLI flag that sets them.
_FLAGS = {"force=True": "--force", "resume=True": "--resume", "resume:": "--resume:", "overwrite=True": "--overwrite", "skip_existing=True": "--skip-existing",
          "overwrite and skip_existing": "--overwrite and --skip-existing", "fmt=": "--format ",
          "output '-'": "-o -", "output='pitch'": "--kind pitch", "output='probs'": "--kind probs"}


def _flagged(msg: str) -> str:
    """A library message with its parameter settings named as the CLI's flags."""
    for param, flag in _FLAGS.items():
        msg = msg.replace(param, flag)
    return msg


@contextmanager
def _errors() -> Iterator[None]:
    """Map known errors to one red line on stderr and exit code 1."""
    from .errors import ChromatoolError

    try:
        yield
    except ChromatoolError as exc:
        if STATE.debug:
            raise
        _stderr().print(f"[red]error:[/red] {_flagged(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None


def command(*args: Any, on: typer.Typer | None = None, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``app.command`` (or ``on.command`` for a sub-app) whose body runs inside the error handler."""

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*a: Any, **kw: Any) -> Any:
            with _errors():
                return fn(*a, **kw)

        return (on or app).command(*args, **kwargs)(wrapper)

    return deco


@contextmanager
def progress_bar(total: int, description: str) -> Iterator[Callable[[int, Any], None]]:
    """A Rich progress bar on a terminal (and not --quiet); a no-op callback otherwise."""
    console = _stderr()
    if STATE.quiet or not console.is_terminal or total <= 1:
        yield lambda i, r: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=console, transient=True) as prog:
        task = prog.add_task(description, total=total)
        yield lambda i, r: prog.advance(task)


def _say(msg: str) -> None:
    if not STATE.quiet:
        _stderr().print(msg, highlight=False, soft_wrap=True)


def _resolve_device(device: str) -> str:
    from .device import resolve_device

    dev = resolve_device(device)
    if device == "auto" and dev == "cuda":
        _say("using CUDA")
    return dev


def _version(value: bool) -> None:
    if value:
        typer.echo(f"chromatool {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", metavar="", callback=_version, is_eager=True,
                                                    help="Print the version and exit.")] = False,
    debug: Annotated[bool, typer.Option("--debug", metavar="", help="Show tracebacks on errors.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", metavar="", help="No progress or summaries on stderr.")] = False,
) -> None:
    """chromatool: features, alignment and retrieval for classical music recordings and scores."""
    STATE.debug = debug
    STATE.quiet = quiet
    from . import batch

    batch.DEBUG = debug  # a per-file failure then stops the batch with its traceback


# ---------------------------------------------------------------------------------------------
# features
# ---------------------------------------------------------------------------------------------


@command("features")
def features_cmd(
    output: Annotated[Path, typer.Option("--output", "-o", help="Output file (one input) or folder (mirrors input paths).")],
    inputs: Annotated[Optional[list[Path]], typer.Argument(help="Audio files or folders (searched recursively).")] = None,
    kind: Annotated[str, typer.Option("--kind", "-k", help="hcqt | cqt | chroma | cens | stft-chroma.")] = D.DEFAULT_FEATURE_KIND,
    feature_rate: FeatureRate = D.FEATURE_RATE,
    device: Device = "auto",
    fmt: Annotated[str, typer.Option("--format", help="npy (+ .json sidecar) or npz.")] = "npy",
    overwrite: Overwrite = False,
    jobs: Jobs = 1,
    tuning: Tuning = D.TUNING,
    skip_existing: SkipExisting = False,
    files_from: FilesFrom = None,
    null: Null = False,
) -> None:
    """Compute HCQT, CQT or chroma features of recordings.

    Arrays are (n_bins, n_frames) — HCQT (6, 216, n_frames) — at the feature rate; the rate and
    parameters go into a sidecar .json (or into the .npz with --format npz).

    **Examples**

        chromatool features rec.wav -o chroma.npy
        chromatool features recordings/ -o feats/ --kind hcqt --jobs 2 --skip-existing
        find /archive -name '*.flac' -print0 | chromatool features --files-from - --null -o feats/
    """
    from .featurize import plan_feature_tasks, run_feature_tasks

    _choice(kind, D.FEATURE_KINDS, "--kind")
    _choice(fmt, D.ARRAY_FORMATS, "--format")
    dev = _resolve_device(device)
    tasks, skipped = plan_feature_tasks(_inputs(inputs, files_from, null, "INPUTS"), output, kind=kind,
                                        feature_rate=feature_rate, device=dev, fmt=fmt, overwrite=overwrite,
                                        tuning=_tuning(tuning), skip_existing=skip_existing)
    with progress_bar(len(tasks), f"{kind} features") as cb:
        report = run_feature_tasks(tasks, jobs=jobs, on_done=cb)
    _report_batch(len(tasks), report.failures, f"{kind} features", len(skipped))


def _report_batch(total: int, failures: list[tuple[Path, str]], what: str, skipped: int = 0) -> None:
    """Failures as ``failed:`` lines, a summary line, exit code 1 when anything failed."""
    err = _stderr()
    label = "failed:" if total + skipped > 1 else "error:"
    for _, msg in failures:
        err.print(f"[red]{label}[/red] {_flagged(msg)}", highlight=False, soft_wrap=True)
    if total + skipped > 1:
        _say(f"{what}: {total - len(failures)} of {total + skipped} written"
             + (f", {skipped} skipped (exist)" if skipped else "")
             + (f", {len(failures)} failed" if failures else ""))
    if failures:
        raise typer.Exit(1)


def _inputs(paths: Optional[list[Path]], files_from: Optional[str], null: bool, hint: str) -> list[str]:
    """Positional inputs plus those listed by --files-from; at least one."""
    from .io import read_file_list

    out = [str(p) for p in paths or []]
    if files_from:
        out += read_file_list(files_from, null=null)
    if any(p == "-" for p in out):
        raise typer.BadParameter("'-' is not a file; use --files-from - to read paths from stdin", param_hint=hint)
    if not out:
        raise typer.BadParameter("give input files or folders, or --files-from", param_hint=hint)
    return out


# ---------------------------------------------------------------------------------------------
# retrieve
# ---------------------------------------------------------------------------------------------

OUTPUT_FORMATS = ("auto", "table", "tsv", "json", "jsonl")


@command("retrieve")
def retrieve_cmd(
    paths: Annotated[list[Path], typer.Argument(help="QUERY... DOCS: theme files or folders of them, then the database (a folder, searched recursively, or one recording).", metavar="QUERY... DOCS")],
    top: Annotated[int, typer.Option("--top", "-k", min=1, help="Documents listed per query.")] = D.RETRIEVE_TOP_K,
    features: Annotated[str, typer.Option("--features", help="Document features: stft-chroma | chroma | cens | deep (CTC deep chroma of a trained model).")] = D.RETRIEVE_FEATURES,
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="With --features deep: packaged model name or .pt file (default: the packaged ctc-chroma).")] = None,
    transpose: Annotated[bool, typer.Option("--transpose", metavar="", help="Try all 12 chroma shifts of each query; report the best.")] = False,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table | tsv | json | jsonl (auto: a table on a terminal, tsv in a pipe).")] = "auto",
    cache: Annotated[Optional[Path], typer.Option("--cache", help="Feature cache folder (default: $CHROMATOOL_CACHE or the user cache dir).")] = None,
    strict: Annotated[bool, typer.Option("--strict", metavar="", help="Stop at the first unreadable document.")] = False,
    feature_rate: FeatureRate = D.FEATURE_RATE,
    device: Device = "auto",
    jobs: Jobs = 1,
    tuning: Tuning = D.TUNING,
    files_from: Annotated[Optional[str], typer.Option("--files-from", help="Read the database's recordings from this file list (- for stdin); every argument is then a query.", metavar="FILE")] = None,
    null: Null = False,
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
    """
    from .retrieval import RETRIEVAL_FEATURES, retrieve

    if files_from:
        from .io import read_file_list

        queries, database = [str(p) for p in paths], read_file_list(files_from, null=null)
        if not queries:
            raise typer.BadParameter("give at least one query", param_hint="QUERY...")
    elif len(paths) < 2:
        raise typer.BadParameter("give at least one query and the database", param_hint="QUERY... DOCS")
    _choice(features, RETRIEVAL_FEATURES, "--features")
    _choice(fmt, OUTPUT_FORMATS, "--format")
    dev = _resolve_device(device)
    from .retrieval import collect_documents

    if not files_from:
        queries, database = [str(p) for p in paths[:-1]], [str(paths[-1])]
    doc_files = collect_documents(database)  # scanned once: the count sizes the progress bar
    with progress_bar(len(doc_files), "document features") as cb:
        res = retrieve(queries, doc_files, features=features, top=top, transpose=transpose,
                       feature_rate=feature_rate, cache_root=str(cache) if cache else None,
                       device=dev, jobs=jobs, strict=strict, model=model, on_done=cb,
                       tuning=_tuning(tuning))
    for doc, msg in res.skipped:
        _stderr().print(f"[yellow]skipped:[/yellow] {msg}", highlight=False, soft_wrap=True)
    for doc, msg in res.unmatched:
        _stderr().print(f"[yellow]unmatched:[/yellow] {msg}", highlight=False, soft_wrap=True)
    _say(f"{res.n_docs - len(res.skipped)} documents ({res.cache_hits} from cache), {res.n_queries} queries")
    try:
        _render_hits(res.hits, fmt)
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
    skip_existing: SkipExisting = False,
) -> None:
    """Align scores to recordings by DTW and write MusicNet-style note labels.

    The score is rendered with FluidSynth and a General MIDI soundfont; chroma and chroma-onset
    features of both sides (the recording's centred on its tuning) are aligned by
    multiresolution DTW, each onset is refined to the nearest strong onset of its pitches, and
    every score note is carried to recording time. High alignment cost (a different piece,
    mismatched repeats) is reported as a warning with the stretch of the recording concerned.

    **Examples**

        chromatool align score.mid rec.wav -o labels.csv --plot check.png
        chromatool align scores/ recordings/ -o labels/ --format musicnet --skip-existing
        chromatool align score.musicxml rec.flac -o labels.csv --tuning -20
    """
    from .align_batch import AlignTask, plan_align_tasks, run_align_tasks
    from .alignment import SYNTHESES
    from .render import can_render

    _choice(fmt, ("chromatool", "musicnet"), "--format")
    _choice(synthesis, SYNTHESES, "--synthesis")
    if synthesis == "auto" and not can_render():
        _stderr().print("[yellow]warning:[/yellow] FluidSynth or a soundfont is missing: aligning "
                        "against features made from the score's notes", highlight=False)
    tasks, skipped = plan_align_tasks([str(p) for p in inputs], output, fmt=fmt, feature_rate=feature_rate,
                                      synthesis=synthesis, soundfont=str(soundfont) if soundfont else None,
                                      overwrite=overwrite, tuning=_tuning(tuning), force=force,
                                      skip_existing=skip_existing)
    if len(tasks) + len(skipped) == 1:
        tasks = [AlignTask(**{**t.__dict__, "path_file": path_file, "plot": plot}) for t in tasks]
    elif path_file or plot:
        raise typer.BadParameter("--path and --plot go with a single score and recording")
    with progress_bar(len(tasks), "aligning") as cb:
        report = run_align_tasks(tasks, jobs=jobs, on_done=cb)
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
    threshold: Annotated[float, typer.Option("--threshold", min=0.0, max=1.0, help="Activation from which a semitone counts as sounding.")] = D.PITCH_THRESHOLD,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table | json.")] = "table",
    device: Device = "auto",
) -> None:
    """Frame-level multi-pitch precision, recall and F (mir_eval) of a multipitch model.

    Each recording goes through the model; its thresholded 72-semitone activations (C1–B6, 25
    frames per second) are compared with the reference notes frame by frame. The last row pools
    all frames of all files.

    **Examples**

        chromatool evaluate pitch rec.wav labels.csv
        chromatool evaluate pitch a.wav a.csv b.wav b.mid --model my.pt
    """
    import json

    from .deep import load_model
    from .evaluation import pitch_evaluation_pairs, pooled_f, evaluate_pitch

    _choice(fmt, ("table", "json"), "--format")
    dev = _resolve_device(device)
    pairs = pitch_evaluation_pairs([str(p) for p in inputs])
    lm = load_model(model, output="pitch", device=dev)
    with progress_bar(len(pairs), "multi-pitch") as cb:
        rows = evaluate_pitch(pairs, lm, threshold=threshold, device=dev, on_done=cb)
    total = pooled_f(rows)
    if fmt == "json":
        typer.echo(json.dumps({"model": lm.source, "threshold": threshold, "files": rows, "pooled": total}, indent=2))
        return
    from rich.table import Table

    t = Table(title=f"multi-pitch, frame level ({Path(lm.source).name}, threshold {threshold:g})")
    for c in ("recording", "frames", "P", "R", "F", "Acc"):
        t.add_column(c, justify="left" if c == "recording" else "right")
    for r in rows:
        t.add_row(Path(r["audio"]).name, str(r["frames"]), f"{r['precision']:.3f}", f"{r['recall']:.3f}",
                  f"{r['f']:.3f}", f"{r['accuracy']:.3f}")
    t.add_row("all frames", str(sum(r["frames"] for r in rows)), f"{total['precision']:.3f}",
              f"{total['recall']:.3f}", f"{total['f']:.3f}", "", style="bold")
    _stdout().print(t)


# ---------------------------------------------------------------------------------------------
# dataset, train, extract
# ---------------------------------------------------------------------------------------------


@command("dataset")
def dataset_cmd(
    output: Annotated[Path, typer.Argument(help="Folder for audio/, labels/, themes/ and the ctc.csv / bce.csv manifests.")],
    scores: Annotated[Optional[list[Path]], typer.Argument(help="Score files (any format chromatool reads); or use --composers.")] = None,
    composers: Annotated[Optional[str], typer.Option("--composers", help="Comma-separated music21 corpus composers to render (e.g. bach,palestrina); the reserved test composers are refused.")] = None,
    pieces: Annotated[int, typer.Option("--pieces", "-n", min=1, help="At most this many corpus pieces (round-robin over composers).")] = 100,
    excerpts: Annotated[int, typer.Option("--excerpts", min=0, help="Theme-like top-voice excerpts per piece (ctc.csv rows).")] = RenderSettings.excerpts,
    seed: Annotated[int, typer.Option("--seed", help="Random seed of piece choice and performance settings.")] = 0,
    soundfont: Annotated[Optional[list[Path]], typer.Option("--soundfont", help="General MIDI soundfont(s) to draw from (default: all installed).")] = None,
    jobs: Jobs = 1,
    overwrite: Annotated[bool, typer.Option("--overwrite", metavar="", help="Replace the dataset in a folder that holds one.")] = False,
    skip_existing: SkipExisting = False,
) -> None:
    """Render scores into a training set: audio with strong note labels and weak theme pairs.

    Each score is played by a random GM ensemble with a random soundfont, tempo curve,
    transposition (±4), velocity jitter, reverb and noise. ctc.csv lists theme-like excerpts of
    the top voice (6–14 s) with their start and end in the render; bce.csv lists each render
    with its note labels. Both feed `chromatool train`.

    **Examples**

        chromatool dataset data/ --composers bach,palestrina --pieces 50 --jobs 2
        chromatool dataset data/ scores/*.mxl --overwrite
    """
    from .dataset import build_dataset, corpus_scores, pick_pieces

    if bool(scores) == bool(composers):
        raise typer.BadParameter("give score files or --composers (not both)", param_hint="SCORES")
    import numpy as np

    files = list(scores or []) or pick_pieces(corpus_scores(tuple(c.strip() for c in composers.split(",") if c.strip())),
                                               pieces, np.random.default_rng(seed))
    settings = RenderSettings(excerpts=excerpts, soundfonts=tuple(str(f) for f in soundfont or ()))
    with progress_bar(len(files), "rendering") as cb:
        ctc, bce, skipped = build_dataset(files, output, seed=seed, settings=settings, jobs=jobs,
                                          overwrite=overwrite, skip_existing=skip_existing, on_done=cb)
    for path, msg in skipped:
        _stderr().print(f"[yellow]skipped:[/yellow] {msg}", highlight=False, soft_wrap=True)
    _say(f"rendered {len(files) - len(skipped)} of {len(files)} scores: {ctc} ({_rows(ctc)} excerpts), "
         f"{bce} ({_rows(bce)} recordings)")


def _rows(path: Path) -> int:
    return max(0, sum(1 for _ in open(path)) - 1)


#: The library's training defaults, shown by --help (training.py imports no torch at load).
_TRAIN = TrainConfig()


@command("train")
def train_cmd(
    data: Annotated[Path, typer.Option("--data", "-d", help="Training manifest (CSV): ctc rows audio,start,end,theme[,transpose][,group]; bce and ce rows audio,labels[,group].")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Model file (.pt) to write; the best epoch is kept there, the last in OUTPUT.last.pt.")],
    loss: Annotated[str, typer.Option("--loss", help="ctc (weakly aligned theme pairs → deep chroma), bce (note labels → multi-pitch / pitch class) or ce (note labels → deep chroma along a CTC path of the top voice's onsets: pre-training for ctc on exact labels).")] = _TRAIN.loss,
    arch: Annotated[Optional[str], typer.Option("--arch", help="ctc-chroma (for ctc and ce), multipitch or pitchclass (for bce; bce with ctc-chroma pre-trains its 216-bin salience on the note labels); default by --loss.")] = None,
    valid: Annotated[Optional[Path], typer.Option("--valid", help="Validation manifest; default: hold out --valid-fraction of the groups (works) of --data.")] = None,
    valid_fraction: Annotated[float, typer.Option("--valid-fraction", min=0.01, max=0.9)] = _TRAIN.valid_fraction,
    epochs: Annotated[int, typer.Option("--epochs", min=1, help="At most this many epochs.")] = _TRAIN.epochs,
    steps_per_epoch: Annotated[Optional[int], typer.Option("--steps-per-epoch", min=1, help="Batches per epoch (default: one pass over the data).")] = None,
    max_steps: Annotated[Optional[int], typer.Option("--max-steps", min=1, help="Stop after this many batches in all.")] = None,
    max_minutes: Annotated[Optional[float], typer.Option("--max-minutes", min=0.0, help="Stop after the epoch that passes this wall-clock time.")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = _TRAIN.batch_size,
    lr: Annotated[float, typer.Option("--lr", min=0.0, help="Adam learning rate.")] = _TRAIN.lr,
    max_transpose: Annotated[int, typer.Option("--max-transpose", min=0, max=6, help="Random transposition augmentation (semitones, ±).")] = _TRAIN.max_transpose,
    voices: Annotated[str, typer.Option("--voices", help="bce with --arch ctc-chroma: salience targets of the top voice (the themes' melody) or of all notes.")] = _TRAIN.voices,
    crop: Annotated[float, typer.Option("--crop", min=1.0, help="bce and ce: seconds per training crop.")] = _TRAIN.crop_seconds,
    patience: Annotated[int, typer.Option("--patience", min=1, help="Epochs without validation improvement before the learning rate is halved.")] = _TRAIN.patience,
    max_halvings: Annotated[int, typer.Option("--max-halvings", min=0, help="Early stop at the plateau after this many halvings.")] = _TRAIN.max_halvings,
    model_setting: Annotated[Optional[list[str]], typer.Option("--model-setting", help="Architecture setting KEY=VALUE (e.g. channels=32,16,16,16); repeatable.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of initialisation, batches and augmentation.")] = _TRAIN.seed,
    resume: Annotated[bool, typer.Option("--resume", metavar="", help="Continue from OUTPUT.last.pt (same data and settings: what differs is named).")] = False,
    overwrite: Overwrite = False,
    init: Annotated[Optional[Path], typer.Option("--init", help="Start from the weights of this model file (same architecture), e.g. a salience pre-training.")] = None,
    threads: Annotated[Optional[int], typer.Option("--threads", min=1, help="CPU threads for torch.")] = None,
    cache: Annotated[Optional[Path], typer.Option("--cache", help="HCQT cache folder (default: $CHROMATOOL_CACHE or the user cache dir).")] = None,
    log: Annotated[Optional[Path], typer.Option("--log", help="JSON-lines training log (default OUTPUT.log.jsonl).")] = None,
    device: Device = "auto",
    jobs: Jobs = 1,
) -> None:
    """Train a deep chroma (CTC) or multi-pitch (BCE) model on a manifest.

    Adam, batches of 8, random transposition, learning rate halved on a validation plateau
    with a restart from the best model, early stop (Zalkow & Müller 2020 §4.1). HCQTs are
    computed once and cached. For several GPUs or CPU processes run it under torchrun, e.g.
    `torchrun --nproc_per_node 2 -m chromatool train ...`.

    **Examples**

        chromatool train --data data/ctc.csv --loss ctc -o chroma.pt
        chromatool train --data data/bce.csv --loss bce --arch multipitch -o pitch.pt --max-minutes 60
        chromatool train --data data/ctc.csv --loss ctc -o chroma.pt --resume
    """
    from .training import LOSSES, VOICES, read_manifest, split_by_group, train

    _choice(loss, LOSSES, "--loss")
    _choice(voices, VOICES, "--voices")
    dev = _resolve_device(device)
    items = read_manifest(data, loss)
    if valid is not None:
        train_items, valid_items = items, read_manifest(valid, loss)
    else:
        train_items, valid_items = split_by_group(items, valid_fraction, seed)
    cfg = TrainConfig(loss=loss, arch=arch, epochs=epochs, batch_size=batch_size, lr=lr,
                      max_transpose=max_transpose, crop_seconds=crop, patience=patience,
                      max_halvings=max_halvings, valid_fraction=valid_fraction,
                      steps_per_epoch=steps_per_epoch, max_steps=max_steps, max_minutes=max_minutes,
                      seed=seed, threads=threads, model_overrides=_settings(model_setting or []),
                      init=str(init) if init else None, voices=voices)
    summary = {"data": str(data), "valid": str(valid) if valid else f"{valid_fraction:g} of the groups"}
    with _training_display() as on_event:
        res = train(train_items, valid_items, output, cfg=cfg, device=dev, resume=resume, overwrite=overwrite,
                    cache_root=str(cache) if cache else None, log_path=log, data_summary=summary,
                    jobs=jobs, on_event=on_event)
    _say(f"{res.stopped} after {res.epochs} epochs ({res.steps} steps, {res.seconds / 60:.1f} min); "
         f"best valid loss {res.best_valid_loss:.4f} at epoch {res.best_epoch} → {res.checkpoint}")


def _settings(items: list[str]) -> dict[str, Any]:
    """KEY=VALUE strings → typed values (ints, floats, comma lists)."""
    out: dict[str, Any] = {}
    for it in items:
        key, sep, value = it.partition("=")
        if not sep:
            raise typer.BadParameter(f"{it!r} is not KEY=VALUE", param_hint="--model-setting")

        def num(v: str) -> Any:
            try:
                return int(v)
            except ValueError:
                try:
                    return float(v)
                except ValueError:
                    return v

        out[key.strip()] = [num(v) for v in value.split(",")] if "," in value else num(value)
    return out


#: Without a terminal (a log file, a batch job), training prints a line every this many batches.
_LOG_EVERY = 25


@contextmanager
def _training_display() -> Iterator[Callable[[str, dict], None]]:
    """Rich progress for training: HCQT features, then batches of each epoch with losses."""
    console = _stderr()
    if STATE.quiet:
        yield lambda kind, info: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=console,
                  transient=True, disable=not console.is_terminal) as prog:
        tasks: dict[str, Any] = {}

        def on_event(kind: str, info: dict) -> None:
            if kind == "features":
                if "features" not in tasks:
                    tasks["features"] = prog.add_task("HCQT", total=info["total"], info="")
                prog.advance(tasks["features"])
            elif kind == "start":
                console.print(f"training {info['config']['arch']} ({info['parameters']:,} parameters) on "
                              f"{info['train_items']} items, validating on {info['valid_items']}, {info['device']}"
                              + (f", {info['processes']} processes" if info["processes"] > 1 else ""),
                              highlight=False)
            elif kind == "step":
                if not console.is_terminal and info["batch"] % _LOG_EVERY == 0:  # logs, pipes
                    console.print(f"epoch {info['epoch']:>3}  batch {info['batch']}/{info['batches']}  "
                                  f"train {info['loss']:.4f}", highlight=False)
                key = f"epoch {info['epoch']}"
                if key not in tasks:
                    tasks[key] = prog.add_task(key, total=info["batches"], info="")
                prog.update(tasks[key], completed=info["batch"], info=f"train {info['loss']:.4f}")
            elif kind == "epoch":
                key = f"epoch {info['epoch']}"
                if key in tasks:
                    prog.remove_task(tasks.pop(key))
                console.print(f"epoch {info['epoch']:>3}  train {info['train_loss']:.4f}  valid "
                              f"{info['valid_loss']:.4f}  lr {info['lr']:g}  {info['seconds']:.0f} s"
                              + (f"  [yellow]{info['event']}[/yellow]" if info["event"] else ""), highlight=False)

        yield on_event


@command("extract")
def extract_cmd(
    inputs: Annotated[Optional[list[Path]], typer.Argument(help="Audio files or folders (searched recursively).")] = None,
    out: Annotated[Optional[Path], typer.Option("--output", "-o", help="Output file (one input) or folder (mirrors input paths).")] = None,
    what: Annotated[str, typer.Option("--kind", "-k", help="chroma (12, N) ε removed, ℓ2-normalised | pitch (72, N) salience C1–B6 | probs (13, N) CTC posteriors, ε last.")] = "chroma",
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Packaged model name or .pt file (default: the packaged model for the output).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="npy (+ .json sidecar) or npz.")] = "npy",
    device: Device = "auto",
    overwrite: Overwrite = False,
    tuning: Tuning = D.TUNING,
    skip_existing: SkipExisting = False,
    files_from: FilesFrom = None,
    null: Null = False,
) -> None:
    """Deep chroma or pitch salience of recordings with a trained model.

    Features are rebuilt from the model's own feature configuration (HCQT at 25 frames per
    second); long recordings run in overlapping chunks. The packaged default models work
    offline with no arguments.

    **Examples**

        chromatool extract rec.wav -o chroma.npy
        chromatool extract recordings/ -o salience/ --kind pitch --skip-existing
        chromatool extract rec.wav -o probs.npz --kind probs --format npz
    """
    from .deep import OUTPUTS, extract_files, load_model
    from .featurize import plan_outputs

    if out is not None and str(out) in OUTPUTS and not out.exists():
        raise typer.BadParameter(f"{out} is a kind of output: use --kind {out} (-o/--output is the output path)",
                                 param_hint="--output")
    if out is None:
        raise typer.BadParameter("give the output file or folder", param_hint="--output")
    _choice(what, OUTPUTS, "--kind")
    _choice(fmt, D.ARRAY_FORMATS, "--format")
    dev = _resolve_device(device)
    pairs, skipped = plan_outputs(_inputs(inputs, files_from, null, "INPUTS"), out, fmt=fmt,
                                  overwrite=overwrite, skip_existing=skip_existing)
    lm = load_model(model, output=what, device=dev)
    with progress_bar(len(pairs), f"deep {what}") as cb:
        _, failures = extract_files(pairs, lm, output=what, device=dev, fmt=fmt, overwrite=overwrite,
                                    on_done=cb, tuning=_tuning(tuning))
    _report_batch(len(pairs), failures, f"deep {what}", len(skipped))


#: Global options that may also follow the subcommand (chromatool features ... --quiet).
_GLOBAL_FLAGS = ("--quiet", "-q", "--debug")


def hoist_global_flags(args: list[str]) -> list[str]:
    """Move global flags given after the subcommand in front of it (Click reads them only
    there); everything after ``--`` is left alone."""
    if not args or args[0].startswith("-"):
        return args
    cut = args.index("--") if "--" in args else len(args)
    flags = [a for a in args[1:cut] if a in _GLOBAL_FLAGS]
    rest = [a for a in args[1:cut] if a not in _GLOBAL_FLAGS]
    return flags + [args[0]] + rest + args[cut:]


def run() -> None:
    """Console-script entry point."""
    app(args=hoist_global_flags(sys.argv[1:]), prog_name="chromatool")


if __name__ == "__main__":  # pragma: no cover
    run()
    sys.exit(0)
