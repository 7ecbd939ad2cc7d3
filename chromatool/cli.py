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

app = typer.Typer(
    name="chromatool",
    help="Chroma features, score-to-audio alignment and theme retrieval for classical music.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
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
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace existing outputs.")]
Jobs = Annotated[int, typer.Option("--jobs", "-j", min=1, help="Parallel worker processes (CPU).")]


def _choice(value: str, choices: tuple[str, ...], option: str) -> str:
    if value not in choices:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(choices)}", param_hint=option)
    return value


@contextmanager
def _errors() -> Iterator[None]:
    """Map known errors to one red line on stderr and exit code 1."""
    from .errors import ChromatoolError

    try:
        yield
    except ChromatoolError as exc:
        if STATE.debug:
            raise
        _stderr().print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None


def command(*args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``app.command`` whose body runs inside the error handler."""

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*a: Any, **kw: Any) -> Any:
            with _errors():
                return fn(*a, **kw)

        return app.command(*args, **kwargs)(wrapper)

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
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                    help="Print the version and exit.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress or summaries on stderr.")] = False,
) -> None:
    """chromatool: features, alignment and retrieval for classical music recordings and scores."""
    STATE.debug = debug
    STATE.quiet = quiet


# ---------------------------------------------------------------------------------------------
# features
# ---------------------------------------------------------------------------------------------


@command("features")
def features_cmd(
    inputs: Annotated[list[Path], typer.Argument(help="Audio files or folders (searched recursively).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output file (one input) or folder (mirrors input names).")],
    kind: Annotated[str, typer.Option("--kind", "-k", help="hcqt | cqt | chroma | cens | stft-chroma.")] = D.DEFAULT_FEATURE_KIND,
    feature_rate: FeatureRate = D.FEATURE_RATE,
    device: Device = "auto",
    fmt: Annotated[str, typer.Option("--format", help="npy (+ .json sidecar) or npz.")] = "npy",
    overwrite: Overwrite = False,
    jobs: Jobs = 1,
) -> None:
    """Compute HCQT, CQT or chroma features of recordings.

    Arrays are (n_bins, n_frames) — HCQT (6, 216, n_frames) — at the feature rate; the rate and
    parameters go into a sidecar .json (or into the .npz with --format npz).
    """
    from .featurize import plan_feature_tasks, run_feature_tasks

    _choice(kind, D.FEATURE_KINDS, "--kind")
    _choice(fmt, D.ARRAY_FORMATS, "--format")
    dev = _resolve_device(device)
    tasks = plan_feature_tasks([str(p) for p in inputs], output, kind=kind,
                               feature_rate=feature_rate, device=dev, fmt=fmt, overwrite=overwrite)
    with progress_bar(len(tasks), f"{kind} features") as cb:
        report = run_feature_tasks(tasks, jobs=jobs, on_done=cb)
    _report_batch(len(tasks), report.failures, f"{kind} features")


def _report_batch(total: int, failures: list[tuple[Path, str]], what: str) -> None:
    err = _stderr()
    label = "failed:" if total > 1 else "error:"
    for _, msg in failures:
        err.print(f"[red]{label}[/red] {msg}", highlight=False, soft_wrap=True)
    if total > 1:
        _say(f"{what}: {total - len(failures)} of {total} written"
             + (f", {len(failures)} failed" if failures else ""))
    if failures:
        raise typer.Exit(1)


# ---------------------------------------------------------------------------------------------
# retrieve
# ---------------------------------------------------------------------------------------------

OUTPUT_FORMATS = ("auto", "table", "tsv", "json", "jsonl")


@command("retrieve")
def retrieve_cmd(
    paths: Annotated[list[Path], typer.Argument(help="QUERY... DOCS: theme files or folders of them, then the database (a folder, searched recursively, or one recording).", metavar="QUERY... DOCS")],
    top: Annotated[int, typer.Option("--top", "-k", min=1, help="Documents listed per query.")] = D.RETRIEVE_TOP_K,
    features: Annotated[str, typer.Option("--features", help="Document features: stft-chroma | chroma | cens.")] = D.RETRIEVE_FEATURES,
    transpose: Annotated[bool, typer.Option("--transpose", help="Try all 12 chroma shifts of each query; report the best.")] = False,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table | tsv | json | jsonl (auto: a table on a terminal, tsv in a pipe).")] = "auto",
    cache: Annotated[Optional[Path], typer.Option("--cache", help="Feature cache folder (default: $CHROMATOOL_CACHE or the user cache dir).")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Stop at the first unreadable document.")] = False,
    feature_rate: FeatureRate = D.FEATURE_RATE,
    device: Device = "auto",
    jobs: Jobs = 1,
) -> None:
    """Rank recordings for symbolic theme queries (subsequence DTW on chroma).

    Queries are any score format chromatool reads (MIDI, MusicXML, kern, ABC, MTD note lists);
    the query's binary chroma at its own tempo is matched against each recording's features.
    Document features are cached, so a second query over the same folder computes none.
    Times are in seconds; cost is the DTW cost normalised by query length (lower is better).
    """
    from .retrieval import RETRIEVAL_FEATURES, retrieve

    if len(paths) < 2:
        raise typer.BadParameter("give at least one query and the database", param_hint="QUERY... DOCS")
    _choice(features, RETRIEVAL_FEATURES, "--features")
    _choice(fmt, OUTPUT_FORMATS, "--format")
    dev = _resolve_device(device)
    from .retrieval import collect_documents

    doc_files = collect_documents([paths[-1]])  # scanned once: the count sizes the progress bar
    with progress_bar(len(doc_files), "document features") as cb:
        res = retrieve(paths[:-1], doc_files, features=features, top=top, transpose=transpose,
                       feature_rate=feature_rate, cache_root=str(cache) if cache else None,
                       device=dev, jobs=jobs, strict=strict, on_done=cb)
    for doc, msg in res.skipped:
        _stderr().print(f"[yellow]skipped:[/yellow] {msg}", highlight=False, soft_wrap=True)
    _say(f"{res.n_docs - len(res.skipped)} documents ({res.cache_hits} from cache), "
         f"{len({h.query for h in res.hits})} queries")
    _render_hits(res.hits, fmt)


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
) -> None:
    """Align scores to recordings by DTW and write MusicNet-style note labels.

    The score is rendered with FluidSynth and a General MIDI soundfont; chroma and chroma-onset
    features of both sides are aligned by multiresolution DTW and every score note is carried
    to recording time. High alignment cost (a different piece, mismatched repeats) is reported
    as a warning with the stretch of the recording concerned.
    """
    from .align_batch import AlignTask, plan_align_tasks, run_align_tasks
    from .render import can_render

    _choice(fmt, ("chromatool", "musicnet"), "--format")
    _choice(synthesis, ("auto", "fluidsynth", "notes"), "--synthesis")
    if synthesis == "auto" and not can_render():
        _stderr().print("[yellow]warning:[/yellow] FluidSynth or a soundfont is missing: aligning "
                        "against features made from the score's notes", highlight=False)
    tasks = plan_align_tasks([str(p) for p in inputs], output, fmt=fmt, feature_rate=feature_rate,
                             synthesis=synthesis, soundfont=str(soundfont) if soundfont else None,
                             overwrite=overwrite)
    if len(tasks) == 1:
        tasks = [AlignTask(**{**tasks[0].__dict__, "path_file": path_file, "plot": plot})]
    elif path_file or plot:
        raise typer.BadParameter("--path and --plot go with a single score and recording")
    with progress_bar(len(tasks), "aligning") as cb:
        report = run_align_tasks(tasks, jobs=jobs, on_done=cb)
    for src, msg in report.warnings:
        _stderr().print(f"[yellow]warning:[/yellow] {src}: {msg}", highlight=False, soft_wrap=True)
    _report_batch(len(tasks), report.failures, "alignments")


# ---------------------------------------------------------------------------------------------
# evaluate
# ---------------------------------------------------------------------------------------------

evaluate_app = typer.Typer(help="Evaluate results against ground truth.", no_args_is_help=True)
app.add_typer(evaluate_app, name="evaluate")


@evaluate_app.command("retrieval")
def evaluate_retrieval_cmd(
    results: Annotated[Path, typer.Argument(help="Output of `chromatool retrieve --format jsonl`.")],
    truth: Annotated[Path, typer.Argument(help="CSV with columns query,doc (matched by file stem).")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="table | json.")] = "table",
) -> None:
    """Top-1/5/10/20/50 and mean reciprocal rank per query and averaged (Zalkow & Müller Table 4).

    A relevant document that is not in the results counts as not found: run retrieve with a
    --top at least as large as the largest cut-off you want to read.
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


def run() -> None:
    """Console-script entry point."""
    app(prog_name="chromatool")


if __name__ == "__main__":  # pragma: no cover
    run()
    sys.exit(0)
