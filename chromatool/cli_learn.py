"""The ``dataset``, ``train`` and ``extract`` commands, and the training display."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Callable, Iterator, Optional

import typer

from . import defaults as D
from .device import resolve_device
from .cli import (
    STATE, Device, FilesFrom, Jobs, Null, Overwrite, Precision, Scheduler, SkipExisting, Tuning, _choice, _inputs,
    _report_batch, _say, _stderr, _stdout, _tuning, command, progress_bar,
)
from .dataset import RenderSettings
from .training import TrainConfig


# ---------------------------------------------------------------------------------------------
# dataset, train, extract
# ---------------------------------------------------------------------------------------------


@command("dataset")
def dataset_cmd(
    output: Annotated[Path, typer.Argument(help="Folder for audio/, labels/, themes/ and the ctc.csv / bce.csv manifests.")],
    scores: Annotated[Optional[list[Path]], typer.Argument(help="Score files (any format chromatool reads); or use --composers.")] = None,
    asap: Annotated[Optional[Path], typer.Option("--asap", help="Render the human piano performances of an ASAP folder (real timing, dynamics, sustain pedal) instead of scores; labels from the performance MIDI, note ends sustained by the pedal.")] = None,
    composers: Annotated[Optional[str], typer.Option("--composers", help="Comma-separated music21 corpus composers to render (e.g. bach,palestrina); the reserved test composers are refused.")] = None,
    pieces: Annotated[int, typer.Option("--pieces", "-n", min=1, help="At most this many corpus pieces (round-robin over composers).")] = 100,
    excerpts: Annotated[int, typer.Option("--excerpts", min=0, help="Theme-like top-voice excerpts per piece (ctc.csv rows).")] = RenderSettings.excerpts,
    seed: Annotated[int, typer.Option("--seed", help="Random seed of piece choice and performance settings.")] = 0,
    soundfont: Annotated[Optional[list[Path]], typer.Option("--soundfont", help="General MIDI soundfont(s) to draw from (default: all installed).")] = None,
    max_seconds: Annotated[float, typer.Option("--max-seconds", min=10.0, help="Render at most this many seconds of each score.")] = RenderSettings.max_duration,
    vibrato: Annotated[float, typer.Option("--vibrato", min=0.0, max=1.0, help="Share of score renders whose singers, strings and winds play with vibrato (±5–90 cents, 4.5–7 Hz).")] = RenderSettings.vibrato_share,
    versions: Annotated[int, typer.Option("--versions", min=1, help="Render each score this many times (own ensemble, soundfont, timing, room; not transposed) and write versions.csv with each version's score-to-audio time map, for train --loss cross-version. With --asap: this many pianists' performances of each piece, mapped through their annotated beats.")] = 1,
    exclude: Annotated[Optional[list[Path]], typer.Option("--exclude", help="A manifest (e.g. a test set's versions.csv or bce.csv) whose pieces (its group column) are left out; repeatable.")] = None,
    jobs: Jobs = 1,
    overwrite: Annotated[bool, typer.Option("--overwrite", metavar="", help="Replace the dataset in a folder that holds one.")] = False,
    skip_existing: SkipExisting = False,
) -> None:
    """Render scores into a training set: audio with strong note labels and weak theme pairs.

    Each score is played by a random GM ensemble with a random soundfont, expressive timing or a
    tempo curve, transposition (±4), velocity jitter, reverb, noise, equalisation, compression,
    lossy coding, a tuning off A440 (±50 cents) and room tone before and after. ctc.csv lists theme-like excerpts of
    the top voice (6–14 s) with their start and end in the render; bce.csv lists each render
    with its note labels. Both feed `chromatool train`.

    **Examples**

        chromatool dataset data/ --composers bach,palestrina --pieces 50 --jobs 2
        chromatool dataset data/ scores/*.mxl --vibrato 0.7 --overwrite
        chromatool dataset piano/ --asap ../shared/data/asap --pieces 200 --jobs 2
        chromatool dataset cv/ --composers bach,handel --pieces 40 --versions 3 --jobs 2
        chromatool dataset cv-piano/ --asap ../shared/data/asap --pieces 40 --versions 2 --exclude test/versions.csv
    """
    from .dataset import build_dataset, corpus_scores, pick_pieces, score_group
    from .io import read_csv_rows

    if sum(map(bool, (scores, composers, asap))) != 1:
        raise typer.BadParameter("give score files, --composers or --asap (one of them)", param_hint="SCORES")
    import numpy as np

    render_fn, rng = None, np.random.default_rng(seed)
    excluded = frozenset(r["group"] for m in exclude or () for r in read_csv_rows(m, ("group",), what="manifest"))
    if asap:
        from .performances import asap_performances, asap_version_sets, performance_group, render_performance

        render_fn = render_performance
        files = (asap_version_sets(asap, versions, pieces, rng, exclude=excluded) if versions > 1 else
                 pick_pieces([p for p in asap_performances(asap) if performance_group(p) not in excluded], pieces, rng))
    elif scores:
        files = [p for p in scores if score_group(p) not in excluded]
    else:
        names = tuple(c.strip() for c in composers.split(",") if c.strip())
        files = pick_pieces([p for p in corpus_scores(names) if score_group(p) not in excluded], pieces, rng)
    settings = RenderSettings(excerpts=excerpts, soundfonts=tuple(str(f) for f in soundfont or ()),
                              max_duration=max_seconds, vibrato_share=vibrato)
    with progress_bar(len(files), "rendering") as cb:
        ctc, bce, skipped = build_dataset(files, output, seed=seed, settings=settings, jobs=jobs,
                                          overwrite=overwrite, skip_existing=skip_existing, on_done=cb,
                                          render_fn=render_fn, versions=versions)
    for path, msg in skipped:
        _stderr().print(f"[yellow]skipped:[/yellow] {msg}", highlight=False, soft_wrap=True)
    _say(f"rendered {len(files) * versions - len(skipped)} of {len(files) * versions}"
         f"{' versions of' if versions > 1 else ''} scores: {ctc} ({_rows(ctc)} excerpts), "
         f"{bce} ({_rows(bce)} recordings)"
         + (f", {ctc.parent / 'versions.csv'} ({_rows(ctc.parent / 'versions.csv')} versions)" if versions > 1 else ""))


def _rows(path: Path) -> int:
    return max(0, sum(1 for _ in open(path)) - 1)


#: The library's training defaults, shown by --help (training.py imports no torch at load).
_TRAIN = TrainConfig()


@command("train")
def train_cmd(
    data: Annotated[Path, typer.Option("--data", "-d", help="Training manifest (CSV): ctc rows audio,start,end,theme[,transpose][,group]; bce and ce rows audio,labels[,group].")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Model file (.pt) to write; the best epoch is kept there, the last in OUTPUT.last.pt.")],
    loss: Annotated[str, typer.Option("--loss", help="ctc (weakly aligned theme pairs → deep chroma), bce (note labels → multi-pitch / pitch class), ce (note labels → deep chroma along a CTC path of the top voice's onsets: pre-training for ctc on exact labels), cross-version (versions.csv → an embedding from time-corresponding excerpts of two versions) or single-version (the same from nearby excerpts of one recording: the baseline).")] = _TRAIN.loss,
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
    precision: Annotated[str, typer.Option("--precision", help="float32, or bfloat16 autocast of the forward pass (faster where the CPU or GPU has bfloat16 units).")] = _TRAIN.precision,
    input_norm: Annotated[str, typer.Option("--input-norm", help="The HCQT's normalisation: l2 per frame (Zalkow & Müller), none (the log-HCQT as it is, so quiet frames and room noise stay quiet) or both (the two stacked; --init widens a one-view model).")] = _TRAIN.input_norm,
    per_recording: Annotated[int, typer.Option("--per-recording", min=1, help="cross-version and single-version: anchors per recording in a batch, at different times (its other times become negatives).")] = _TRAIN.per_recording,
    positive_offset: Annotated[float, typer.Option("--positive-offset", min=0.0, help="cross-version: a positive pair's two excerpts lie up to this many score seconds apart (0: the same moment).")] = _TRAIN.positive_offset,
    cache: Annotated[Optional[Path], typer.Option("--cache", help="HCQT cache folder (default: $CHROMATOOL_CACHE or the user cache dir).")] = None,
    log: Annotated[Optional[Path], typer.Option("--log", help="JSON-lines training log (default OUTPUT.log.jsonl).")] = None,
    device: Device = "auto",
    jobs: Jobs = 1,
) -> None:
    """Train a deep chroma (CTC), multi-pitch (BCE) or cross-version embedding model on a manifest.

    Adam, batches of 8, random transposition, learning rate halved on a validation plateau
    with a restart from the best model, early stop (Zalkow & Müller 2020 §4.1). HCQTs are
    computed once and cached. For several GPUs or CPU processes run it under torchrun, e.g.
    `torchrun --nproc_per_node 2 -m chromatool train ...`.

    **Examples**

        chromatool train --data data/ctc.csv --loss ctc -o chroma.pt
        chromatool train --data data/bce.csv --loss bce --arch multipitch -o pitch.pt --max-minutes 60
        chromatool train --data data/ctc.csv --loss ctc -o chroma.pt --resume
        chromatool train --data cv/versions.csv --loss cross-version -o cv.pt --batch-size 32
    """
    from .train_config import INPUT_NORMS, PRECISIONS
    from .training import LOSSES, VOICES, read_manifest, split_by_group, train

    _choice(loss, LOSSES, "--loss")
    _choice(voices, VOICES, "--voices")
    _choice(precision, PRECISIONS, "--precision")
    _choice(input_norm, INPUT_NORMS, "--input-norm")
    dev = resolve_device(device)
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
                      init=str(init) if init else None, voices=voices, precision=precision,
                      per_recording=per_recording, positive_offset=positive_offset,
                      input_norm=input_norm)
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
    what: Annotated[str, typer.Option("--kind", "-k", help="chroma (12, N) ε removed, ℓ2-normalised | pitch (72, N) salience C1–B6 | probs (13, N) CTC posteriors, ε last | embedding (64, N) cross-version embedding, each frame the excerpt centred on it.")] = D.DEEP_KIND,
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Packaged model name or .pt file (default: the packaged model for the output).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="npy (+ .json sidecar) or npz.")] = "npy",
    device: Device = "auto",
    overwrite: Overwrite = False,
    tuning: Tuning = D.TUNING,
    precision: Precision = D.INFERENCE_PRECISION,
    skip_existing: SkipExisting = False,
    files_from: FilesFrom = None,
    null: Null = False,
    scheduler: Scheduler = None,
) -> None:
    """Deep chroma, pitch salience or embeddings of recordings with a trained model.

    Features are rebuilt from the model's own feature configuration (HCQT at 25 frames per
    second); long recordings run in overlapping chunks. The packaged default models work
    offline with no arguments.

    **Examples**

        chromatool extract rec.wav -o chroma.npy
        chromatool extract recordings/ -o salience/ --kind pitch --skip-existing
        chromatool extract rec.wav -o probs.npz --kind probs --format npz
        chromatool extract /shared/archive/ -o /shared/chroma/ --scheduler tcp://head:8786
    """
    from .deep import OUTPUTS, load_model
    from .extraction import extract_files
    from .featurize import plan_outputs

    if out is not None and str(out) in OUTPUTS and not out.exists():
        raise typer.BadParameter(f"{out} is a kind of output: use --kind {out} (-o/--output is the output path)",
                                 param_hint="--output")
    if out is None:
        raise typer.BadParameter("give the output file or folder", param_hint="--output")
    _choice(what, OUTPUTS, "--kind")
    _choice(fmt, D.ARRAY_FORMATS, "--format")
    _choice(precision, D.INFERENCE_PRECISIONS, "--precision")
    dev = resolve_device(device)
    pairs, skipped = plan_outputs(_inputs(inputs, files_from, null, "INPUTS"), out, fmt=fmt,
                                  overwrite=overwrite, skip_existing=skip_existing)
    if len(pairs) == 1 and scheduler is None:  # one file: decode it while torch is imported
        from .prefetch import start_input

        start_input(pairs[0][0], model, output=what, tuning=_tuning(tuning), device=dev)
    lm = load_model(model, output=what, device=dev)
    with progress_bar(len(pairs), f"deep {what}") as cb:
        _, failures = extract_files(pairs, lm, output=what, device=dev, fmt=fmt, overwrite=overwrite,
                                    on_done=cb, tuning=_tuning(tuning), scheduler=scheduler, precision=precision)
    _report_batch(len(pairs), failures, f"deep {what}", len(skipped))


# ---------------------------------------------------------------------------------------------
# evaluate probe
# ---------------------------------------------------------------------------------------------

from .cli_tasks import evaluate_app  # noqa: E402


@command("probe", on=evaluate_app)
def evaluate_probe_cmd(
    manifest: Annotated[Path, typer.Argument(help="A versions manifest with labels (chromatool dataset --versions): recordings split by piece into probe-training and test halves.")],
    models: Annotated[list[str], typer.Option("--model", "-m", help="Embedding model(s) to probe (.pt or packaged name); repeatable. Each is a row.")],
    supervised: Annotated[bool, typer.Option("--supervised/--no-supervised", help="Also a row for the same classifier on the log-HCQT itself (the supervised reference).")] = True,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Also draw the self-similarity of one test recording under each model (PNG).")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the split and the classifier.")] = 0,
    splits: Annotated[int, typer.Option("--splits", min=1, help="Probe this many random splits (seeds --seed, --seed + 1, ...) and report the mean and standard deviation: steadier figures where each class occurs in few pieces.")] = 1,
    device: Device = "auto",
) -> None:
    """Probe frozen embeddings: instrument-family and pitch-class classifiers, AP / AUC / F1.

    A small MLP (scikit-learn) is trained on the embeddings of half the pieces and tested on the
    other half, every 0.5 s, as in Krause, Weiß & Müller's poster.

    **Examples**

        chromatool evaluate probe cv_test/versions.csv -m cv.pt -m sv.pt --plot ssm.png
        chromatool evaluate probe cv_test/versions.csv -m cv.pt -m sv.pt --splits 10
    """
    from rich.table import Table

    from .manifests import read_versions
    from .probe import TASKS, plot_self_similarity, probe_splits, repeated_splits

    dev = resolve_device(device)
    items = read_versions(manifest)
    parts = repeated_splits(items, splits, seed=seed)
    train_items, test_items = parts[0]
    named = {Path(m).stem: m for m in models}
    rows = probe_splits(parts, {**named, **({"supervised (HCQT)": None} if supervised else {})},
                        device=dev, seed=seed)
    t = Table(title=f"probe: {len(train_items)} recordings to train, {len(test_items)} to test"
                    + (f"; mean ± sd of {splits} splits" if splits > 1 else ""))
    t.add_column("representation")
    for task in TASKS:
        for m in ("AP", "AUC", "F1"):
            t.add_column(f"{task} {m}", justify="right")
    for r in rows:
        t.add_row(r.name, *[f"{r.scores[task][m]:.3f}" + (f" ± {r.spread[task][m]:.3f}" if r.spread else "")
                            for task in TASKS for m in ("AP", "AUC", "F1")])
    _stdout().print(t)
    if plot:
        plot_self_similarity(test_items[0], named, plot, device=dev)
        _say(f"self-similarity → {plot}")
