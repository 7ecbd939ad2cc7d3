"""Training deep chroma (CTC, weakly aligned) and multi-pitch / pitch-class (BCE, strongly
aligned) models — Zalkow & Müller 2020 §3–4.1, Weiss et al. 2021.

Manifests are CSV files; relative paths are relative to the manifest:

* ``--loss ctc``: ``audio,start,end,theme[,transpose][,group]`` — an excerpt of a recording
  (seconds) and a theme (any score format or an MTD ``Start;Duration;Pitch`` list) whose
  chroma label sequence, without timing, is the target; ``transpose`` (semitones) is added to
  the theme to match the recording.
* ``--loss bce``: ``audio,labels[,group]`` — a recording and its note labels (what
  ``chromatool align`` writes, or MusicNet's CSV) → frame-wise pitch or pitch-class targets.
* ``--loss ce`` (same rows as bce): frame-wise cross-entropy of a ctc-chroma's 13 classes
  against one CTC path read off the labels — the pitch class of each top-voice note in its
  first frames, ε everywhere else. Where the labels are exact (renders) it teaches the CTC
  output directly, a pre-training after which ``--loss ctc`` starts near a good alignment.

HCQTs are computed once per recording and cached (float16). Training follows §4.1: Adam
(lr 1e-3), batches of 8, random transposition up to ±3 semitones (the HCQT shifted by 3 bins
per semitone, targets rotated / shifted), a validation split by ``group`` (or ``--valid``),
the learning rate halved when the validation loss stops improving, each time restarting from
the best model, and an early stop. Under ``torchrun`` each process trains on its share of the
batches with DistributedDataParallel (gloo on CPU, NCCL on CUDA).
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import defaults as D
from .errors import ChromatoolError, OutputError, ParameterError

LOSSES: tuple[str, ...] = ("ctc", "bce", "ce")
DEFAULT_ARCH: dict[str, str] = {"ctc": "ctc-chroma", "bce": "multipitch", "ce": "ctc-chroma"}
IGNORE = -100  # frame class of padding (cross-entropy's ignore_index)
VOICES: tuple[str, ...] = ("top", "all")  # salience pre-training targets of a ctc-chroma
BLANK = D.N_CHROMA  # the ε class is the last of 13


class ManifestError(ChromatoolError):
    """A manifest row that cannot be used; the message names the file and row."""


@dataclass(frozen=True)
class TrainConfig:
    """Settings of a training run (the ``train`` command's options; each default defined here).

    Examples
    --------
    >>> from chromatool import TrainConfig
    >>> cfg = TrainConfig(loss="bce", arch="multipitch", max_minutes=30)
    >>> cfg.architecture, cfg.batch_size, cfg.lr
    ('multipitch', 8, 0.001)
    """

    loss: str = "ctc"
    arch: str | None = None  # DEFAULT_ARCH[loss] when None
    epochs: int = 100
    batch_size: int = 8
    lr: float = 1e-3
    max_transpose: int = 3
    crop_seconds: float = 10.0  # bce: training crops of the recordings
    patience: int = 3  # epochs without improvement before the learning rate is halved
    max_halvings: int = 3  # then stop at the next plateau
    valid_fraction: float = 0.1
    steps_per_epoch: int | None = None  # None: one pass over the training items
    max_steps: int | None = None
    max_minutes: float | None = None  # stop after the epoch that passes this
    seed: int = 0
    threads: int | None = None
    model_overrides: dict[str, Any] = field(default_factory=dict)
    init: str | None = None  # start from this checkpoint's weights (same model configuration)
    onset_frames: int = 3  # ce: frames of a note's pitch class at its onset, ε after them
    voices: str = "top"  # bce on a ctc-chroma: salience targets of the top voice or of "all" notes

    @property
    def architecture(self) -> str:
        return self.arch or DEFAULT_ARCH[self.loss]


@dataclass(frozen=True)
class Item:
    audio: Path
    group: str
    start: float = 0.0  # ctc: excerpt (s)
    end: float = 0.0
    target: tuple[int, ...] = ()  # ctc: chroma labels 0..11 of the theme, transposed
    notes: Any = None  # bce: NoteList in recording time


# ---------------------------------------------------------------------------------------------
# manifests


def _rows(path: Path, required: tuple[str, ...]) -> list[dict]:
    from .io import read_csv_rows

    return read_csv_rows(path, required, what="training manifest")


def _file(base: Path, value: str, where: str, what: str) -> Path:
    if not value:
        raise ManifestError(f"{where}: empty {what} path")
    p = Path(value)
    p = p if p.is_absolute() else base / p
    if not p.is_file():
        raise ManifestError(f"{where}: {what} {p} does not exist")
    return p


def theme_target(path: str | Path, transpose: int = 0) -> tuple[int, ...]:
    """The CTC target of a theme: the pitch classes (C=0) of its top voice's notes, in order."""
    from .score import read_score

    notes = read_score(path, melody=True)
    return tuple(int(p) for p in (notes.pitch + int(transpose)) % D.N_CHROMA)


def read_manifest(path: str | Path, loss: str) -> list[Item]:
    """Items of a ctc or bce manifest; every bad row is an error naming it."""
    from .errors import ScoreError

    if loss not in LOSSES:
        raise ParameterError(f"unknown --loss {loss!r}; choose one of {', '.join(LOSSES)}")
    path = Path(path)
    base = path.parent
    items: list[Item] = []
    required = ("audio", "start", "end", "theme") if loss == "ctc" else ("audio", "labels")
    for i, r in enumerate(_rows(path, required), start=2):
        where = f"{path}:{i}"
        audio = _file(base, r["audio"], where, "audio")
        group = (r.get("group") or "").strip() or audio.stem
        if loss == "ctc":
            try:
                start, end = float(r["start"]), float(r["end"])
                transpose = int(r.get("transpose") or 0)
            except ValueError as exc:
                raise ManifestError(f"{where}: not a number ({exc})") from None
            if start < 0 or end <= start:
                raise ManifestError(f"{where}: excerpt end {end:g} s is not after start {start:g} s")
            theme = _file(base, r["theme"], where, "theme")
            try:
                target = theme_target(theme, transpose)
            except ScoreError as exc:
                raise ManifestError(f"{where}: {exc}") from None
            if not target:
                raise ManifestError(f"{where}: theme {theme} has no notes")
            if len(target) > (end - start) * D.FEATURE_RATE / 2:
                raise ManifestError(f"{where}: {len(target)} theme notes cannot fit a {end - start:.1f} s excerpt")
            items.append(Item(audio, group, start, end, target))
        else:
            from .labels import read_labels

            labels = _file(base, r["labels"], where, "labels")
            try:
                notes = read_labels(labels)
            except ChromatoolError as exc:
                raise ManifestError(f"{where}: {exc}") from None
            items.append(Item(audio, group, notes=notes))
    if not items:
        raise ManifestError(f"{path}: no rows")
    return items


def split_by_group(items: list[Item], fraction: float, seed: int) -> tuple[list[Item], list[Item]]:
    """Hold out whole groups (works/composers) for validation (scikit-learn GroupShuffleSplit)."""
    from sklearn.model_selection import GroupShuffleSplit

    groups = [it.group for it in items]
    if len(set(groups)) < 2:
        raise ParameterError("a validation split needs at least two groups (works) in the manifest; "
                             "add a group column or pass --valid")
    gss = GroupShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
    tr, va = next(gss.split(np.zeros(len(items)), groups=groups))
    return [items[i] for i in tr], [items[i] for i in va]


# ---------------------------------------------------------------------------------------------
# features


def recording_hcqts(paths: list[Path], features: dict, *, cache_root: str | None = None,
                    on_done: Callable[[int, Any], None] | None = None, jobs: int = 1) -> dict[Path, np.ndarray]:
    """float16 log-HCQT (n_harmonics, n_bins, n_frames) of each distinct recording, cached."""
    from .batch import map_items

    uniq = sorted(set(paths))
    tasks = [_HCQTTask(p, features, cache_root) for p in uniq]
    results = map_items(_hcqt_task, tasks, jobs=jobs, on_done=on_done)
    for p, r in zip(uniq, results):
        if isinstance(r, ChromatoolError):
            raise ChromatoolError(f"{p}: {r}")
    return dict(zip(uniq, results))


@dataclass(frozen=True)
class _HCQTTask:
    path: Path
    features: dict
    cache_root: str | None


def hcqt_cache_params(features: dict) -> dict:
    """The cache key of a training HCQT: the model's feature config, the storage type and the
    feature code's version (a change of the features invalidates cached training inputs)."""
    from .features import FEATURES_VERSION

    return {**{k: v for k, v in features.items() if k != "normalize"}, "dtype": "float16",
            "version": FEATURES_VERSION}


def _hcqt_task(task: _HCQTTask) -> np.ndarray:
    from .audio import load_audio
    from .cache import FeatureCache
    from .deep import input_hcqt

    feats = task.features
    params = hcqt_cache_params(feats)
    cache = FeatureCache(task.cache_root)
    return cache.get(task.path, params, lambda: input_hcqt(load_audio(task.path, sr=int(feats["sr"])),
                                                           feats).astype(np.float16))


# ---------------------------------------------------------------------------------------------
# batches


def shift_bins(x: np.ndarray, bins: int) -> np.ndarray:
    """Shift an HCQT (..., n_bins, n_frames) up by ``bins`` bins (down if negative), zero-filled."""
    if bins == 0:
        return x
    out = np.zeros_like(x)
    if bins > 0:
        out[..., bins:, :] = x[..., :-bins, :]
    else:
        out[..., :bins, :] = x[..., -bins:, :]
    return out


def frame_targets(notes, n_frames: int, start_frame: int, arch: str, shift: int,
                  feature_rate: float, voices: str = TrainConfig.voices) -> np.ndarray:
    """(n_frames, 72) semitone or (n_frames, 12) pitch-class targets from note labels; for a
    ctc-chroma, (n_frames, 216) salience targets — the centre bin of each semitone — of the top
    voice (the melody a theme is, the target of its CTC training) or, ``voices="all"``, of all
    notes."""
    if arch == "ctc-chroma" and voices == "top":  # the salience of the deep chroma model learns the top voice
        notes = notes.top_voice()
    roll = notes.transpose(shift).piano_roll(feature_rate=feature_rate, n_frames=start_frame + n_frames,
                                             midi_min=D.MIDI_MIN, n_pitches=D.N_BINS // D.BINS_PER_SEMITONE)
    roll = roll[:, start_frame:start_frame + n_frames]
    if arch == "pitchclass":
        roll = np.stack([roll[c::D.N_CHROMA].max(0) for c in range(D.N_CHROMA)])
    elif arch == "ctc-chroma":  # salience: the centre bin of each semitone's three
        k = D.BINS_PER_SEMITONE
        bins = np.zeros((roll.shape[0] * k, roll.shape[1]), dtype=roll.dtype)
        bins[k // 2::k] = roll
        roll = bins
    return roll.T.astype(np.float32)


def ctc_path(notes, n_frames: int, start_frame: int, shift: int, feature_rate: float,
             onset_frames: int = TrainConfig.onset_frames) -> np.ndarray:
    """(n_frames,) class per frame of one CTC path through the top voice of note labels: the
    pitch class (C=0) of each note in its first ``onset_frames`` frames — all but its last
    frame, so that repeated pitch classes stay apart — and ε (``BLANK``) elsewhere.

    Frames are timed by ``NoteList.frame_spans``; collapsed, the path is the top voice's
    label sequence, the target ``--loss ctc`` learns without timing."""
    top = notes.top_voice().transpose(shift)
    path = np.full(start_frame + n_frames, BLANK, dtype=np.int64)
    first, stop = top.frame_spans(feature_rate)
    last = np.minimum(first + onset_frames, np.maximum(stop - 1, first + 1))
    for c, a, b in zip(top.pitch % D.N_CHROMA, first, last):
        path[max(a, 0):max(b, 0)] = c
    return path[start_frame:]


class Batcher:
    """Draws (augmented) batches from the cached HCQTs; deterministic given its rng."""

    def __init__(self, items: list[Item], hcqts: dict[Path, np.ndarray], features: dict, cfg: TrainConfig):
        self.items, self.hcqts, self.features, self.cfg = items, hcqts, features, cfg
        self.fr = float(features["feature_rate"])
        self.bins_per_semitone = int(features["bins_per_octave"]) // D.N_CHROMA
        self.crop = int(round(cfg.crop_seconds * self.fr))

    def frames(self, it: Item) -> tuple[int, int]:
        n = self.hcqts[it.audio].shape[-1]
        if self.cfg.loss == "ctc":
            a = min(n - 1, int(round(it.start * self.fr)))
            return a, max(a + 1, min(n, int(round(it.end * self.fr))))
        return 0, n

    def epoch_batches(self, rng: np.random.Generator) -> list[list[int]]:
        """Index batches for one epoch; ctc batches group excerpts of similar length."""
        idx = rng.permutation(len(self.items))
        bs = self.cfg.batch_size
        if self.cfg.loss == "ctc":
            chunk = bs * 32
            lengths = np.array([np.subtract(*self.frames(self.items[i])[::-1]) for i in idx])
            order = np.concatenate([idx[s:s + chunk][np.argsort(lengths[s:s + chunk], kind="stable")]
                                    for s in range(0, len(idx), chunk)])
        else:
            order = idx
        batches = [order[s:s + bs].tolist() for s in range(0, len(order), bs)]
        return [batches[i] for i in rng.permutation(len(batches))]

    def batch(self, indices: list[int], rng: np.random.Generator | None) -> dict[str, Any]:
        """Inputs (B, H, T, F) and targets; ``rng`` None: no augmentation, validation crops."""
        import torch

        from .deep import model_input

        xs, ys, lens = [], [], []
        for i in indices:
            it = self.items[i]
            H = self.hcqts[it.audio]
            k = int(rng.integers(-self.cfg.max_transpose, self.cfg.max_transpose + 1)) if rng is not None else 0
            if self.cfg.loss == "ctc":
                a, b = self.frames(it)
                ys.append([(c + k) % D.N_CHROMA for c in it.target])
            else:
                n = H.shape[-1]
                if n > self.crop:
                    a = int(rng.integers(0, n - self.crop + 1)) if rng is not None else (n - self.crop) // 2
                else:
                    a = 0
                b = min(n, a + self.crop)
                if self.cfg.loss == "ce":
                    ys.append(ctc_path(it.notes, b - a, a, k, self.fr, self.cfg.onset_frames))
                else:
                    ys.append(frame_targets(it.notes, b - a, a, self.cfg.architecture, k, self.fr,
                                            self.cfg.voices))
            x = shift_bins(H[:, :, a:b].astype(np.float32), k * self.bins_per_semitone)
            xs.append(model_input(x, self.features))
            lens.append(b - a)
        T = max(lens)
        X = torch.zeros((len(xs), xs[0].shape[0], T, xs[0].shape[2]))
        for j, x in enumerate(xs):
            X[j, :, : x.shape[1]] = x
        out: dict[str, Any] = {"x": X,
                               "lengths": torch.tensor(lens)}
        if self.cfg.loss == "ctc":
            out["targets"] = torch.tensor([c for y in ys for c in y], dtype=torch.long)
            out["target_lengths"] = torch.tensor([len(y) for y in ys])
        elif self.cfg.loss == "ce":
            Y = torch.full((len(ys), T), IGNORE, dtype=torch.long)
            for j, y in enumerate(ys):
                Y[j, : y.shape[0]] = torch.from_numpy(y)
            out["classes"] = Y
        else:
            Y = torch.zeros((len(ys), T, ys[0].shape[1]))
            mask = torch.zeros((len(ys), T, 1))
            for j, y in enumerate(ys):
                Y[j, : y.shape[0]] = torch.from_numpy(y)
                mask[j, : y.shape[0]] = 1
            out["y"], out["mask"] = Y, mask
        return out


def batch_loss(model, batch: dict[str, Any], cfg: TrainConfig, device: str):
    """Mean loss of a batch (CTC per target length as in torch's "mean"; BCE per frame and
    output; CE per frame)."""
    import torch
    from torch.nn import functional as F

    pretrain = cfg.loss == "bce" and cfg.architecture == "ctc-chroma"  # its salience, frame-wise
    logits = model(batch["x"].to(device), **({"output": "salience"} if pretrain else {}))
    if cfg.loss == "ctc":
        logp = torch.log_softmax(logits.float(), -1).transpose(0, 1)  # (T, B, 13)
        return F.ctc_loss(logp, batch["targets"].to(device), batch["lengths"].to(device),
                          batch["target_lengths"].to(device), blank=BLANK, reduction="mean",
                          zero_infinity=True)
    if cfg.loss == "ce":
        return F.cross_entropy(logits.float().flatten(0, 1), batch["classes"].to(device).flatten(),
                               ignore_index=IGNORE)
    mask = batch["mask"].to(device)
    bce = F.binary_cross_entropy_with_logits(logits, batch["y"].to(device), reduction="none")
    return (bce * mask).sum() / (mask.sum() * logits.shape[-1]).clamp_min(1)


# ---------------------------------------------------------------------------------------------
# the loop


@dataclass
class DistInfo:
    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device: str) -> DistInfo:
    """Join the process group torchrun set up (WORLD_SIZE > 1), else a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl" if device == "cuda" else "gloo")
    return DistInfo(dist.get_rank(), dist.get_world_size())


def _global_mean(total: float, count: int, dist_info: DistInfo) -> float:
    """``total / count`` summed over all processes."""
    if dist_info.world > 1:
        import torch
        import torch.distributed as dist

        t = torch.tensor([total, count], dtype=torch.float64)
        dist.all_reduce(t)
        total, count = float(t[0]), float(t[1])
    return total / max(count, 1)


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass
class TrainResult:
    checkpoint: Path
    epochs: int
    best_epoch: int
    best_valid_loss: float
    steps: int
    seconds: float
    stopped: str


def _evaluate(model, batcher: Batcher, device: str, dist_info: DistInfo) -> float:
    import torch

    model.eval()
    total, count = 0.0, 0
    idx = list(range(len(batcher.items)))[dist_info.rank::dist_info.world]
    with torch.no_grad():
        for s in range(0, len(idx), batcher.cfg.batch_size):
            chunk = idx[s:s + batcher.cfg.batch_size]
            total += float(batch_loss(model, batcher.batch(chunk, None), batcher.cfg, device)) * len(chunk)
            count += len(chunk)
    model.train()
    return _global_mean(total, count, dist_info)


def train(train_items: list[Item], valid_items: list[Item], output: str | Path, *,
          cfg: TrainConfig = TrainConfig(), device: str = "cpu", resume: bool = False,
          cache_root: str | None = None, log_path: str | Path | None = None,
          data_summary: dict | None = None, jobs: int = 1, overwrite: bool = False,
          on_event: Callable[[str, dict], None] | None = None) -> TrainResult:
    """Train a model; writes ``output`` (best model), ``<output>.last.pt`` (for ``--resume``)
    and a JSON-lines log (``<output>.log.jsonl`` unless ``log_path``). An existing model is not
    replaced unless ``overwrite``; ``resume`` continues only with the data and settings of the
    checkpoint (it says what differs).

    ``on_event(kind, info)``: "features" (i, n), "step" (epoch, step, loss), "epoch" (the log
    record) — the library draws nothing.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import soundfile as sf
    >>> from music21 import corpus
    >>> from chromatool import TrainConfig, read_score, train
    >>> from chromatool.render import synthesize
    >>> from chromatool.training import Item
    >>> notes = read_score(corpus.getWork("bach/bwv66.6"))
    >>> notes = notes.select(notes.onset < 8)
    >>> d = Path(tempfile.mkdtemp())
    >>> items = []
    >>> for i, speed in enumerate((1.0, 1.2, 0.9)):  # three "recordings" with exact note labels
    ...     played = notes.time_scaled(speed)
    ...     sf.write(d / f"{i}.wav", synthesize(played), 22050)
    ...     items.append(Item(d / f"{i}.wav", group=str(i), notes=played))
    >>> cfg = TrainConfig(loss="bce", arch="multipitch", max_steps=2, batch_size=2, crop_seconds=4.0)
    >>> res = train(items[:2], items[2:], d / "tiny.pt", cfg=cfg, cache_root=str(d / "cache"))
    >>> res.steps, sorted(p.name for p in d.glob("tiny*"))
    (2, ['tiny.last.pt', 'tiny.log.jsonl', 'tiny.pt'])
    """
    import torch

    from .deep import checkpoint, feature_config, read_checkpoint
    from .models import build_model, config_dict, make_config, n_parameters

    if cfg.loss not in LOSSES:
        raise ParameterError(f"unknown --loss {cfg.loss!r}; choose one of {', '.join(LOSSES)}")
    if cfg.voices not in VOICES:
        raise ParameterError(f"unknown voices {cfg.voices!r}; choose one of {', '.join(VOICES)}")
    arch = cfg.architecture
    if cfg.loss != "bce" and arch != DEFAULT_ARCH[cfg.loss]:  # ctc and ce train only ctc-chroma
        raise ParameterError(f"--loss {cfg.loss} cannot train a {arch} model ({cfg.loss} trains ctc-chroma; bce "
                             "trains multipitch, pitchclass, or the salience of ctc-chroma)")
    if not train_items:
        raise ParameterError("no training items")
    if not valid_items:
        raise ParameterError("no validation items")
    output = Path(output)
    last_path = output.with_suffix(".last.pt")
    log_path = Path(log_path) if log_path else output.with_suffix(".log.jsonl")
    if not resume and not overwrite:
        for p in (output, last_path):
            if p.exists():
                raise OutputError(f"{p}: exists (resume=True continues that training, overwrite=True starts "
                                  "a new one in its place)")
    if overwrite and not resume and log_path.exists():
        log_path.unlink()
    dist_info = init_distributed(device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed + dist_info.rank)
    emit = on_event if (on_event and dist_info.main) else (lambda kind, info: None)

    features = feature_config(normalize="l2")
    paths = [it.audio for it in train_items + valid_items]
    hcqts = recording_hcqts(paths, features, cache_root=cache_root, jobs=jobs,
                            on_done=lambda i, r: emit("features", {"done": i, "total": len(set(paths))}))
    train_b = Batcher(train_items, hcqts, features, cfg)
    valid_b = Batcher(valid_items, hcqts, features, cfg)

    model_cfg = make_config(arch, **cfg.model_overrides)
    model = build_model(model_cfg).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    state = {"epoch": 0, "step": 0, "lr": cfg.lr, "best_loss": math.inf, "best_epoch": 0,
             "bad_epochs": 0, "halvings": 0, "seconds": 0.0}
    def load_matching(path, option: str) -> dict:
        ck = read_checkpoint(path)
        if ck["model"] != config_dict(model_cfg):
            raise ParameterError(f"{option}: {path} holds a different model ({ck['model'].get('arch')}); "
                                 "give the same --arch and --model-setting")
        model.load_state_dict(ck["state_dict"])
        return ck

    if cfg.init and not resume:
        load_matching(cfg.init, "--init")
    best_state = None
    if resume:
        if not last_path.is_file():
            raise ChromatoolError(f"--resume: no training checkpoint {last_path}")
        ck = load_matching(last_path, "--resume")
        _check_resume(ck.get("training", {}), _run_identity(train_items, valid_items, cfg, arch), last_path)
        opt.load_state_dict(ck["optimizer"])
        state.update(ck["schedule"])
        best_state = ck.get("best_state_dict")
    ddp_model = model
    if dist_info.world > 1:
        from torch.nn.parallel import DistributedDataParallel

        ddp_model = DistributedDataParallel(model, device_ids=[0] if device == "cuda" else None)

    summary = {"loss": cfg.loss, "config": {**asdict(cfg), "arch": arch}, "parameters": n_parameters(model),
               "run": _run_identity(train_items, valid_items, cfg, arch),
               "train_items": len(train_items), "valid_items": len(valid_items),
               "processes": dist_info.world, "device": device, **(data_summary or {})}
    emit("start", summary)
    stopped = "epochs"
    t0 = time.perf_counter() - state["seconds"]
    while state["epoch"] < cfg.epochs:
        epoch = state["epoch"] + 1
        rng = np.random.default_rng([cfg.seed, epoch, state["halvings"]])
        batches = train_b.epoch_batches(rng)
        if cfg.steps_per_epoch:
            batches = (batches * math.ceil(cfg.steps_per_epoch / max(len(batches), 1)))[: cfg.steps_per_epoch]
        per_rank = max(1, len(batches) // dist_info.world)
        mine = batches[dist_info.rank * per_rank:(dist_info.rank + 1) * per_rank]
        aug = np.random.default_rng([cfg.seed, epoch, state["halvings"], dist_info.rank])
        total, count = 0.0, 0
        ddp_model.train()
        for bi, idx in enumerate(mine):
            if cfg.max_steps is not None and state["step"] >= cfg.max_steps:
                break
            loss = batch_loss(ddp_model, train_b.batch(idx, aug), cfg, device)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            state["step"] += 1
            total += float(loss.detach())
            count += 1
            emit("step", {"epoch": epoch, "batch": bi + 1, "batches": len(mine), "loss": total / count})
        train_loss = _global_mean(total, count, dist_info)
        valid_loss = _evaluate(model, valid_b, device, dist_info)
        state["epoch"] = epoch
        state["seconds"] = time.perf_counter() - t0
        improved = valid_loss < state["best_loss"] - 1e-4
        if improved:
            state.update(best_loss=valid_loss, best_epoch=epoch, bad_epochs=0)
            best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        else:
            state["bad_epochs"] += 1
        event = ""
        if not improved and state["bad_epochs"] >= cfg.patience:
            if state["halvings"] >= cfg.max_halvings:
                stopped, event = "early stop", "early stop"
            else:  # restart from the best model with half the learning rate
                model.load_state_dict(best_state)
                state["halvings"] += 1
                state["lr"] /= 2
                state["bad_epochs"] = 0
                opt = torch.optim.Adam(model.parameters(), lr=state["lr"])
                event = f"lr halved to {state['lr']:g}, restarted from epoch {state['best_epoch']}"
        record = {"epoch": epoch, "step": state["step"], "train_loss": round(train_loss, 5),
                  "valid_loss": round(valid_loss, 5), "best_epoch": state["best_epoch"],
                  "lr": state["lr"], "seconds": round(state["seconds"], 1), "event": event}
        if dist_info.main:
            training = {**summary, "epochs": epoch, "best_epoch": state["best_epoch"],
                        "best_valid_loss": state["best_loss"], "steps": state["step"],
                        "seconds": round(state["seconds"], 1)}
            _save(output, checkpoint(model, features, training, state_dict=best_state))
            _save(last_path, checkpoint(model, features, training, optimizer=opt.state_dict(),
                                        schedule=dict(state), best_state_dict=best_state))
            with open(log_path, "a") as f:
                f.write(json.dumps(record) + "\n")
        emit("epoch", record)
        if stopped == "early stop":
            break
        if cfg.max_steps is not None and state["step"] >= cfg.max_steps:
            stopped = "max steps"
            break
        if cfg.max_minutes is not None and state["seconds"] > 60 * cfg.max_minutes:
            stopped = "time limit"
            break
    if dist_info.world > 1:
        import torch.distributed as dist

        dist.barrier()
    return TrainResult(output, state["epoch"], state["best_epoch"], state["best_loss"], state["step"],
                       state["seconds"], stopped)


#: Settings that must not change when a training run is resumed.
_RUN_SETTINGS = ("loss", "voices", "crop_seconds", "batch_size", "max_transpose", "seed")


def _run_identity(train_items: list[Item], valid_items: list[Item], cfg: TrainConfig, arch: str) -> dict:
    """What a resumed run must share with the checkpoint: the data (digests of the training and
    validation items) and the settings that shape batches and targets."""
    import hashlib

    def digest(items: list[Item]) -> str:
        rows = [(str(it.audio), it.group, round(it.start, 4), round(it.end, 4), it.target,
                 len(it.notes) if it.notes is not None else -1) for it in items]
        return hashlib.sha256(repr(sorted(rows)).encode()).hexdigest()[:16]

    return {"train_data": digest(train_items), "valid_data": digest(valid_items), "arch": arch,
            **{k: getattr(cfg, k) for k in _RUN_SETTINGS}}


def _check_resume(training: dict, now: dict, path: Path) -> None:
    before = training.get("run")
    if before is None:
        return  # a checkpoint from before runs were recorded
    diff = [k for k in now if before.get(k) != now[k]]
    if diff:
        what = ", ".join(f"{k} ({before.get(k)} → {now[k]})" if "data" not in k else f"{k} (the manifest or its split changed)"
                         for k in diff)
        raise ParameterError(f"resume: {path} was trained with other data or settings: {what}")


def _save(path: Path, obj: dict) -> None:
    import torch

    from .io import atomic_write

    atomic_write(path, lambda f: torch.save(obj, f))
