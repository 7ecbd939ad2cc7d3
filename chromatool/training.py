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
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from . import defaults as D
from .batches import (  # noqa: F401  (re-exported)
    Batcher, batch_loss, ctc_path, frame_targets, hcqt_cache_params, recording_hcqts, shift_bins,
)
from .device import seed_everything
from .errors import ChromatoolError, OutputError, ParameterError
from .manifests import Item, ManifestError, read_manifest, split_by_group, theme_target  # noqa: F401
from .train_config import BLANK, CONTRASTIVE, DEFAULT_ARCH, IGNORE, LOSSES, VOICES, TrainConfig  # noqa: F401


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

    if device == "cuda":  # one GPU per process: "cuda" then means this process's own
        import torch

        local, n_gpus = int(os.environ.get("LOCAL_RANK", "0")), torch.cuda.device_count()
        if local >= n_gpus:
            raise ParameterError(f"device='cuda': process {local} of this machine has no GPU of its own "
                                 f"({n_gpus} visible); start at most {n_gpus} per machine, or use device='cpu'")
        torch.cuda.set_device(local)
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
          cfg: TrainConfig = TrainConfig(), device: str = D.DEVICE, resume: bool = False,
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
    from .models import (build_model, config_dict, config_differences, make_config, n_parameters, same_config,
                         widen_inputs)

    if cfg.loss not in LOSSES:
        raise ParameterError(f"loss={cfg.loss!r} is unknown; choose one of {', '.join(LOSSES)}")
    if cfg.voices not in VOICES:
        raise ParameterError(f"unknown voices {cfg.voices!r}; choose one of {', '.join(VOICES)}")
    arch = cfg.architecture
    if (cfg.loss != "bce" and arch != DEFAULT_ARCH[cfg.loss]) or (cfg.loss == "bce" and arch == "embedding"):
        raise ParameterError(f"loss={cfg.loss!r} cannot train a {arch} model (ctc and ce train ctc-chroma; bce "
                             "trains multipitch, pitchclass, or the salience of ctc-chroma; cross-version and "
                             "single-version train embedding)")
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
    seed_everything(cfg.seed + dist_info.rank, device)
    emit = on_event if (on_event and dist_info.main) else (lambda kind, info: None)

    features = feature_config(normalize=cfg.input_norm)
    paths = [it.audio for it in train_items + valid_items]
    hcqts = recording_hcqts(paths, features, cache_root=cache_root, jobs=jobs,
                            on_done=lambda i, r: emit("features", {"done": i, "total": len(set(paths))}))
    if cfg.loss in CONTRASTIVE:
        from .contrastive import PairBatcher as Batcher  # noqa: N814  (the same interface)
    else:
        from .batches import Batcher
    train_b = Batcher(train_items, hcqts, features, cfg)
    valid_b = Batcher(valid_items, hcqts, features, cfg)

    views = 2 if cfg.input_norm == "both" else 1
    model_cfg = make_config(arch, **{"input_views": views, **cfg.model_overrides})
    if model_cfg.input_views != views:
        raise ParameterError(f"input_norm={cfg.input_norm!r} feeds {views} view(s) of the HCQT; "
                             f"the model setting input_views={model_cfg.input_views} does not match")
    model = build_model(model_cfg).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    state = {"epoch": 0, "step": 0, "lr": cfg.lr, "best_loss": math.inf, "best_epoch": 0,
             "bad_epochs": 0, "halvings": 0, "seconds": 0.0}
    def load_matching(path, option: str) -> dict:
        ck = read_checkpoint(path)
        mine = config_dict(model_cfg)
        widen = option == "--init" and ck["model"].get("input_views", 1) < views
        theirs = {**ck["model"], **({"input_views": views} if widen else {})}
        if not same_config(theirs, mine):
            raise ParameterError(f"{option}: {path} holds a different model ({config_differences(theirs, mine)}); "
                                 "give the same --arch and --model-setting")
        model.load_state_dict(widen_inputs(ck["state_dict"], model) if widen else ck["state_dict"])
        return ck

    if cfg.init and not resume:
        load_matching(cfg.init, "--init")
    best_state = None
    if resume:
        if not last_path.is_file():
            raise ChromatoolError(f"resume: no training checkpoint {last_path}")
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
        if stop := _stop_reason(state, cfg):  # a resumed run that already ended stays ended
            stopped = stop
            break
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
    if dist_info.world > 1:
        import torch.distributed as dist

        dist.barrier()
    return TrainResult(output, state["epoch"], state["best_epoch"], state["best_loss"], state["step"],
                       state["seconds"], stopped)


def _stop_reason(state: dict, cfg: TrainConfig) -> str | None:
    """Why training must not start another epoch: its step or time budget is spent, or it
    early-stopped (a plateau after the last halving); None while it may go on."""
    if state["bad_epochs"] >= cfg.patience and state["halvings"] >= cfg.max_halvings:
        return "early stop"
    if cfg.max_steps is not None and state["step"] >= cfg.max_steps:
        return "max steps"
    if cfg.max_minutes is not None and state["seconds"] > 60 * cfg.max_minutes:
        return "time limit"
    return None


#: Settings that must not change when a training run is resumed.
_RUN_SETTINGS = ("loss", "voices", "crop_seconds", "batch_size", "max_transpose", "seed", "per_recording",
                 "positive_offset", "input_norm")


def _run_identity(train_items: list[Item], valid_items: list[Item], cfg: TrainConfig, arch: str) -> dict:
    """What a resumed run must share with the checkpoint: the data (digests of the training and
    validation items) and the settings that shape batches and targets."""
    import hashlib

    def digest(items: list[Item]) -> str:
        rows = [(str(it.audio), it.group, round(it.start, 4), round(it.end, 4), it.target,
                 len(it.notes) if it.notes is not None else -1) + ((it.piece,) if it.piece else ())
                for it in items]
        return hashlib.sha256(repr(sorted(rows)).encode()).hexdigest()[:16]

    return {"train_data": digest(train_items), "valid_data": digest(valid_items), "arch": arch,
            **{k: getattr(cfg, k) for k in _RUN_SETTINGS}}


def _check_resume(training: dict, now: dict, path: Path) -> None:
    before = training.get("run")
    if before is None:
        return  # a checkpoint from before runs were recorded
    defaults = TrainConfig()  # a setting added after the checkpoint was written had its default
    diff = [k for k in now if before.get(k, getattr(defaults, k, None)) != now[k]]
    if diff:
        what = ", ".join(f"{k} ({before.get(k)} → {now[k]})" if "data" not in k else f"{k} (the manifest or its split changed)"
                         for k in diff)
        raise ParameterError(f"resume: {path} was trained with other data or settings: {what}")


def _save(path: Path, obj: dict) -> None:
    import torch

    from .io import atomic_write

    atomic_write(path, lambda f: torch.save(obj, f))
