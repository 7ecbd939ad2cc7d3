"""The ``index`` commands: build, add to and describe a theme index (thin wrappers)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from . import defaults as D
from .device import resolve_device
from .cli import (
    Device, FilesFrom, Jobs, Null, Overwrite, Scheduler, Tuning, _choice, _inputs,
    _local_or_cluster, _say, _stderr, _stdout, _tuning, app, command, progress_bar,
)

index_app = typer.Typer(help="A theme index for large archives: `retrieve QUERY... ARCHIVE.ctx` searches it.",
                        no_args_is_help=True)
app.add_typer(index_app, name="index")

Cache = Annotated[Optional[Path], typer.Option("--cache", help="Feature cache folder (default: $CHROMATOOL_CACHE or the user cache dir).")]


def _report(rep, what: str) -> None:
    for doc, msg in rep.failures:
        _stderr().print(f"[red]failed:[/red] {msg}", highlight=False, soft_wrap=True)
    _say(f"{what}: {len(rep.added)} recordings added ({rep.n_vectors:,} shingles) in {rep.seconds:.1f} s"
         + (f", {len(rep.present)} already there" if rep.present else "")
         + (f", {len(rep.failures)} failed" if rep.failures else ""))
    if rep.failures:
        raise typer.Exit(1)


@command("build", on=index_app)
def build_cmd(
    output: Annotated[Path, typer.Option("--output", "-o", help="The index folder to write (e.g. archive.ctx).")],
    inputs: Annotated[Optional[list[Path]], typer.Argument(help="Recordings or folders of them (searched recursively).", metavar="DOCS...")] = None,
    features: Annotated[str, typer.Option("--features", help="stft-chroma | chroma | cens | deep: the features retrieve matches (as retrieve --features).")] = D.INDEX_FEATURES,
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="With --features deep: packaged model name or .pt file.")] = None,
    feature_rate: Annotated[Optional[float], typer.Option("--feature-rate", help=f"Frames per second of the features (default {D.FEATURE_RATE:g}; with --features deep the model's).")] = None,
    dims: Annotated[int, typer.Option("--dims", min=1, help="Dimensions the truncated SVD keeps of each shingle.")] = D.INDEX_DIMS,
    cache: Cache = None,
    device: Device = "auto",
    jobs: Jobs = 1,
    tuning: Tuning = D.TUNING,
    overwrite: Overwrite = False,
    files_from: FilesFrom = None,
    null: Null = False,
    scheduler: Scheduler = None,
) -> None:
    """Index recordings for fast theme retrieval (chroma shingles, a truncated SVD, an HNSW graph).

    Features come from the feature cache (computed on a miss, on --jobs processes or the
    cluster), so an interrupted build reruns fast. Searching the index prints what searching
    the folder prints (same columns, costs and times), ranking a few candidate recordings
    proposed by the graph instead of all of them.

    **Examples**

        chromatool index build recordings/ -o archive.ctx --jobs 2
        chromatool retrieve theme.mid archive.ctx --top 5
        find /archive -name '*.flac' | chromatool index build --files-from - -o archive.ctx
    """
    from .index_build import build_index
    from .retrieval import RETRIEVAL_FEATURES, collect_documents

    _local_or_cluster(jobs, scheduler)
    _choice(features, RETRIEVAL_FEATURES, "--features")
    docs = collect_documents(_inputs(inputs, files_from, null, "DOCS..."))
    with progress_bar(len(docs), "document features") as cb:
        rep = build_index(docs, output, features=features, feature_rate=feature_rate, tuning=_tuning(tuning),
                          model=model, cache_root=str(cache) if cache else None,
                          device=resolve_device(device), jobs=jobs, overwrite=overwrite, dims=dims,
                          on_done=cb, scheduler=scheduler)
    _report(rep, str(output))


@command("add", on=index_app)
def add_cmd(
    index: Annotated[Path, typer.Argument(help="The index folder.", metavar="INDEX")],
    inputs: Annotated[Optional[list[Path]], typer.Argument(help="Recordings or folders of them.", metavar="DOCS...")] = None,
    cache: Cache = None,
    device: Device = "auto",
    jobs: Jobs = 1,
    files_from: FilesFrom = None,
    null: Null = False,
    scheduler: Scheduler = None,
) -> None:
    """Add recordings to an index (with its feature setting; those it holds are left alone).

    **Examples**

        chromatool index add archive.ctx new_recordings/
    """
    from .index_build import add_to_index
    from .retrieval import collect_documents

    _local_or_cluster(jobs, scheduler)
    docs = collect_documents(_inputs(inputs, files_from, null, "DOCS..."))
    with progress_bar(len(docs), "document features") as cb:
        rep = add_to_index(index, docs, cache_root=str(cache) if cache else None,
                           device=resolve_device(device), jobs=jobs, on_done=cb, scheduler=scheduler)
    _report(rep, str(index))


@command("info", on=index_app)
def info_cmd(
    index: Annotated[Path, typer.Argument(help="The index folder.", metavar="INDEX")],
    as_json: Annotated[bool, typer.Option("--json", metavar="", help="Print the summary as JSON.")] = False,
) -> None:
    """What an index holds: recordings, hours, shingles, settings, size.

    **Examples**

        chromatool index info archive.ctx
    """
    import json

    from .index import ThemeIndex

    info = ThemeIndex(index).info()
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    from rich.table import Table

    t = Table(show_header=False, box=None)
    f, s = info["features"], info["shingles"]
    rows = [("index", info["path"]), ("recordings", f"{info['documents']:,}"), ("hours", f"{info['hours']:.2f}"),
            ("shingles", f"{info['vectors']:,}"), ("size", f"{info['bytes'] / 1e6:.1f} MB"),
            ("features", f"{f['kind']} at {f['feature_rate']:g} Hz, tuning {f['tuning']}"),
            ("shingle", f"{s['length']} frames every {s['hop']} at {f['feature_rate'] / s['downsample']:g} Hz, "
                        f"{s['dims']} dimensions"),
            ("created", info["created"]), ("updated", info["updated"])]
    for k, v in rows:
        t.add_row(k, str(v))
    _stdout().print(t)
