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


def run() -> None:
    """Console-script entry point."""
    app(prog_name="chromatool")


if __name__ == "__main__":  # pragma: no cover
    run()
    sys.exit(0)
