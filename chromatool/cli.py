"""The ``chromatool`` command line: thin Typer commands over the library.

Each command parses its options, calls one library function, and renders the result. Known
errors (``ChromatoolError``) become one red line on stderr and exit code 1; ``--debug`` shows
the traceback. Heavy modules (numpy, librosa, torch) are imported inside the commands so that
``--help`` stays fast. This module holds the app, the shared options, the error handling and
``features``; ``cli_tasks.py`` has ``retrieve``, ``align`` and ``evaluate``, ``cli_learn.py``
``dataset``, ``train`` and ``extract``.
"""

from __future__ import annotations

import functools
import re
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Callable, Iterator, Optional

import typer
from rich.console import Console

from . import __version__
from . import defaults as D
from .device import resolve_device

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
Scheduler = Annotated[Optional[str], typer.Option("--scheduler", help="Run one task per file on this Dask cluster (scheduler address tcp://HOST:8786, or a scheduler file); files must be on a filesystem the workers share. Needs chromatool[cluster].", metavar="ADDRESS")]
Precision = Annotated[str, typer.Option("--precision", help="The network's arithmetic: auto (bfloat16 on a CPU with bfloat16 units, int8 on one with VNNI units, float32 elsewhere), float32, bfloat16 or int8 (CPU). The sidecar records it.")]
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
_FLAGS = {"force=True": "--force", "transpose=True": "--transpose", "resume=True": "--resume", "resume:": "--resume:", "overwrite=True": "--overwrite", "skip_existing=True": "--skip-existing",
          "overwrite and skip_existing": "--overwrite and --skip-existing", "fmt=": "--format ",
          "output '-'": "-o -"}


#: Library parameters whose settings (``name=value``) and mentions (``name must ...``) in error
#: messages the CLI names as its flags.
_PARAMS = {"jobs": "--jobs", "top": "--top", "features": "--features", "feature_rate": "--feature-rate",
           "model": "--model", "device": "--device", "loss": "--loss", "kind": "--kind", "tuning": "--tuning",
           "scheduler": "--scheduler", "candidates_per_query": "--candidates", "dims": "--dims"}
_SETTING = re.compile(r"\b(" + "|".join(_PARAMS) + r")=(?:'([^']*)'|([^\s,;)]+))")
_MENTION = re.compile(r"\b(" + "|".join(_PARAMS) + r")(?= must| goes| needs)")


def _flagged(msg: str) -> str:
    """A library message with its parameter settings named as the CLI's flags."""
    for param, flag in _FLAGS.items():
        msg = msg.replace(param, flag)
    msg = _SETTING.sub(lambda m: f"{_PARAMS[m.group(1)]} {m.group(2) if m.group(2) is not None else m.group(3)}", msg)
    return _MENTION.sub(lambda m: _PARAMS[m.group(1)], msg)


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
    scheduler: Scheduler = None,
) -> None:
    """Compute HCQT, CQT or chroma features of recordings.

    Arrays are (n_bins, n_frames) — HCQT (6, 216, n_frames) — at the feature rate; the rate and
    parameters go into a sidecar .json (or into the .npz with --format npz).

    **Examples**

        chromatool features rec.wav -o chroma.npy
        chromatool features recordings/ -o feats/ --kind hcqt --jobs 2 --skip-existing
        find /archive -name '*.flac' -print0 | chromatool features --files-from - --null -o feats/
        chromatool features /shared/archive/ -o /shared/feats/ --scheduler tcp://head:8786
    """
    from .featurize import plan_feature_tasks, run_feature_tasks

    _local_or_cluster(jobs, scheduler)
    _choice(kind, D.FEATURE_KINDS, "--kind")
    _choice(fmt, D.ARRAY_FORMATS, "--format")
    dev = resolve_device(device)
    tasks, skipped = plan_feature_tasks(_inputs(inputs, files_from, null, "INPUTS"), output, kind=kind,
                                        feature_rate=feature_rate, device=dev, fmt=fmt, overwrite=overwrite,
                                        tuning=_tuning(tuning), skip_existing=skip_existing)
    with progress_bar(len(tasks), f"{kind} features") as cb:
        report = run_feature_tasks(tasks, jobs=jobs, on_done=cb, scheduler=scheduler)
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


def _local_or_cluster(jobs: int, scheduler: Optional[str]) -> None:
    if scheduler and jobs > 1:
        raise typer.BadParameter("--jobs runs processes here; with --scheduler the cluster's workers "
                                 "do the work: give one of them", param_hint="--jobs")


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


# The other commands register themselves on ``app`` (imported last: they use the helpers above),
# in the order --help lists them.
from . import cli_tasks  # noqa: E402,F401,I001
from . import cli_learn  # noqa: E402,F401
from . import cli_index  # noqa: E402,F401
from .cli_learn import dataset_cmd, extract_cmd, train_cmd  # noqa: E402,F401
from .cli_tasks import align_cmd, evaluate_pitch_cmd, evaluate_retrieval_cmd, retrieve_cmd  # noqa: E402,F401
