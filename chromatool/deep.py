"""Trained models on disk and in use: checkpoints, the packaged default models, and extraction
of deep chroma / pitch salience from audio in bounded memory.

A checkpoint is a plain dict readable with ``torch.load(path, weights_only=True)``::

    {"format": "chromatool-model", "version": 1,
     "model": {...}       # the architecture's config (models.py)
     "features": {...}    # how the input HCQT is computed (rebuilt from this at extraction)
     "training": {...}    # summary: data, epochs, losses, seed ...
     "state_dict": {...}}

Training checkpoints (``*.last.pt``) add the optimizer state and the schedule for ``--resume``.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from . import defaults as D
from .errors import ModelError, ParameterError
from .features import Features

CHECKPOINT_FORMAT = "chromatool-model"
CHECKPOINT_VERSION = 1
#: Outputs ``extract`` can write, and the packaged model each one uses by default.
OUTPUTS: tuple[str, ...] = ("chroma", "pitch", "probs", "embedding")
DEFAULT_MODELS: dict[str, str] = {"chroma": "ctc-chroma", "probs": "ctc-chroma", "pitch": "multipitch",
                                  "embedding": "cross-version"}
#: Frames per inference chunk and the context added on each side (> every model's receptive
#: field, so chunked output equals whole-file output).
CHUNK_FRAMES = 1500
CHUNK_CONTEXT = 32


def feature_config(*, feature_rate: float = D.FEATURE_RATE, normalize: str = "l2") -> dict[str, Any]:
    """The HCQT a model reads (``normalize``: "l2" per frame and harmonic, as in Zalkow &
    Müller §3, or "none")."""
    if normalize not in D.INPUT_NORMS:
        raise ParameterError(f"unknown input normalisation {normalize!r}; choose {' or '.join(D.INPUT_NORMS)}")
    return {"kind": "hcqt", "sr": D.SAMPLE_RATE, "feature_rate": float(feature_rate),
            "harmonics": list(D.HCQT_HARMONICS), "fmin": D.FMIN, "n_bins": D.N_BINS,
            "bins_per_octave": D.BINS_PER_OCTAVE, "normalize": normalize}


def input_hcqt(y: np.ndarray, features: dict[str, Any], *, engine=None, log: bool = True) -> np.ndarray:
    """The log-HCQT (n_harmonics, n_bins, n_frames) of a model's feature config, float32
    (``log=False``: its linear magnitude, for ``network_output(..., magnitude_ref=...)``)."""
    from .features import hcqt_magnitude, log_compress

    H = hcqt_magnitude(y, sr=int(features["sr"]), feature_rate=float(features["feature_rate"]),
                       harmonics=tuple(features["harmonics"]), fmin=float(features["fmin"]),
                       n_bins=int(features["n_bins"]), bins_per_octave=int(features["bins_per_octave"]),
                       engine=engine)
    return log_compress(H) if log else H


def log_reference(peak: float) -> float:
    """The 0-dB reference of a file's log-HCQT: its peak magnitude rounded to 0.01 dB, so that
    a CQT computed elsewhere (another BLAS, a GPU) whose last bits differ still gives the same
    reference, unless its peak lies within a few millionths of a dB of a rounding step (the
    network's bfloat16 arithmetic would show any difference: posteriors 1e-3 apart)."""
    if peak <= 0:
        return peak
    return float(10.0 ** (round(20.0 * np.log10(peak), 2) / 20.0))


#: The views a model reading normalisation "both" gets, in this order along its input channels.
BOTH_VIEWS: tuple[str, ...] = ("none", "l2")


def model_input(H: np.ndarray, features: dict[str, Any]):
    """HCQT (n_harmonics, n_bins, n_frames) → the network's (n_harmonics, n_frames, n_bins) tensor
    (normalisation "both": the log level's harmonics, then the l2-normalised ones)."""
    import torch

    x = torch.as_tensor(np.ascontiguousarray(H), dtype=torch.float32).transpose(1, 2)
    norm = features.get("normalize", "l2")
    if norm == "none":
        return x
    unit = x / x.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    return torch.cat([{"none": x, "l2": unit}[v] for v in BOTH_VIEWS]) if norm == "both" else unit


@dataclass
class LoadedModel:
    model: Any  # torch.nn.Module in eval mode
    config: dict[str, Any]
    features: dict[str, Any]
    training: dict[str, Any]
    source: str

    @property
    def arch(self) -> str:
        return str(self.config["arch"])


def checkpoint(model, features: dict[str, Any], training: dict[str, Any], *,
               state_dict: dict | None = None, **extra: Any) -> dict:
    """The checkpoint dict of ``model`` (with ``state_dict`` in place of its own weights, e.g.
    the best epoch's)."""
    from .models import config_dict

    inner = getattr(model, "module", model)  # unwrap DistributedDataParallel
    weights = inner.state_dict() if state_dict is None else state_dict
    return {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION,
            "model": config_dict(inner.config), "features": dict(features),
            "training": dict(training),
            "state_dict": {k: v.detach().cpu() for k, v in weights.items()}, **extra}


def read_checkpoint(path: str | Path) -> dict:
    import torch

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such model file")
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds for a bad file
        raise ModelError(f"{path}: not a chromatool model ({type(exc).__name__}: {str(exc)[:120]})") from None
    if not isinstance(ck, dict) or ck.get("format") != CHECKPOINT_FORMAT:
        raise ModelError(f"{path}: not a chromatool model checkpoint")
    if int(ck.get("version", 0)) > CHECKPOINT_VERSION:
        raise ModelError(f"{path}: made by a newer chromatool (checkpoint version {ck['version']})")
    return ck


def packaged_models() -> dict[str, Path]:
    """Models shipped in ``chromatool/weights`` by name (file stem)."""
    root = resources.files("chromatool") / "weights"
    if not root.is_dir():
        return {}
    return {Path(p.name).stem: Path(str(p)) for p in root.iterdir() if p.name.endswith(".pt")}


def resolve_model(name: str | None, output: str = D.DEEP_KIND) -> Path:
    """A model path from a name of a packaged model, a file path, or None (the default for
    ``output``)."""
    if output not in OUTPUTS:
        raise ParameterError(f"kind={output!r} is unknown; choose one of {', '.join(OUTPUTS)}")
    shipped = packaged_models()
    if name is None and DEFAULT_MODELS[output] not in shipped:
        raise ModelError(f"this installation has no packaged {DEFAULT_MODELS[output]} model: pass model=FILE.pt "
                         "(train one with `chromatool train`)")
    name = name or DEFAULT_MODELS[output]
    if name in shipped:
        return shipped[name]
    if Path(name).suffix == ".pt" or Path(name).exists():
        return Path(name)
    raise ModelError(f"unknown model {name!r}: give a .pt file or one of the packaged models "
                     f"({', '.join(sorted(shipped)) or 'none installed'})")


def load_model(name: str | Path | None = None, *, output: str = D.DEEP_KIND, device: str = D.DEVICE) -> LoadedModel:
    """Load a checkpoint (path, packaged model name, or the default for ``output``).

    Examples
    --------
    >>> from chromatool import load_model
    >>> m = load_model()  # the packaged ctc-chroma; load_model(output="pitch") the multi-pitch one
    >>> m.arch, m.features["feature_rate"]
    ('ctc-chroma', 25.0)
    """
    from .models import build_model

    path = resolve_model(str(name) if name is not None else None, output)
    ck = read_checkpoint(path)
    model = build_model(ck["model"])
    try:
        model.load_state_dict(ck["state_dict"])
    except RuntimeError as exc:
        raise ModelError(f"{path}: weights do not match its architecture ({str(exc)[:160]})") from None
    model.eval().to(device)
    return LoadedModel(model, ck["model"], ck["features"], ck.get("training", {}), str(path))


_LOADED: dict[tuple[str, str], LoadedModel] = {}


def cached_model(name: str | None, device: str = D.DEVICE, output: str = D.DEEP_KIND) -> LoadedModel:
    """:func:`load_model`, once per process for each (model, device)."""
    key = (str(resolve_model(name, output)), device)
    if key not in _LOADED:
        _LOADED[key] = load_model(key[0], output=output, device=device)
    return _LOADED[key]


def model_digest(name: str | None, output: str = D.DEEP_KIND) -> str:
    """Content hash of a model file (cache keys of deep features)."""
    import hashlib

    return hashlib.sha1(resolve_model(name, output).read_bytes()).hexdigest()[:16]


def network_output(lm: LoadedModel, H: np.ndarray, *, device: str = D.DEVICE,
                   chunk_frames: int = CHUNK_FRAMES, context: int = CHUNK_CONTEXT,
                   magnitude_ref: float | None = None, precision: str = "float32") -> np.ndarray:
    """Per-frame network output (n_frames, n_outputs) in overlapping chunks: softmax posteriors
    for ctc-chroma, sigmoid activations otherwise. ``H`` is the log-HCQT or, with
    ``magnitude_ref`` (the file's maximum), its linear magnitude, log-scaled chunk by chunk so
    that no full-length copy is made (a one-hour file). ``precision="bfloat16"`` runs the
    forward pass under autocast (the outputs in float32), ``"int8"`` its convolutions in 8-bit
    integers on the CPU (:mod:`chromatool.int8`).

    On the CPU each chunk runs single-threaded and the chunks run side by side on as many
    threads as torch had, so the bits do not depend on the thread count (oneDNN splits a
    convolution's sums differently for 1 and 2 threads), as :func:`chromatool.blas.reproducible_matmul`
    does for the CQT."""
    from concurrent.futures import ThreadPoolExecutor

    import torch

    from .features import log_compress

    n = H.shape[-1]
    cpu = device == "cpu"
    if precision == "int8":
        from .int8 import int8_network

        net = int8_network(lm.model)
    else:
        net = lm.model

    def run(a: int) -> np.ndarray:
        if cpu:
            torch.set_num_threads(1)  # this thread's own setting (OpenMP's is per thread)
        b = min(n, a + chunk_frames)
        lo, hi = max(0, a - context), min(n, b + context)
        part = H[:, :, lo:hi] if magnitude_ref is None else log_compress(H[:, :, lo:hi], ref=magnitude_ref)
        with torch.inference_mode(), torch.autocast(device, dtype=torch.bfloat16, enabled=precision == "bfloat16"):
            x = model_input(part, lm.features)[None].to(device)
            logits = net(x)[0, a - lo: b - lo].float()
            act = torch.softmax(logits, -1) if lm.arch == "ctc-chroma" else torch.sigmoid(logits)
            return act.cpu().numpy()

    starts = range(0, max(n, 1), chunk_frames)
    threads = torch.get_num_threads()
    if not cpu:
        outs = [run(a) for a in starts]
    else:
        try:
            with ThreadPoolExecutor(max(1, min(threads, len(starts)))) as ex:
                outs = list(ex.map(run, starts))
        finally:
            torch.set_num_threads(threads)
    return np.concatenate(outs) if outs else np.zeros((0, lm.model.config.n_outputs), np.float32)


def network_input(y: np.ndarray, features: dict[str, Any], *, output: str = D.DEEP_KIND, engine=None,
                  tuning: str | float = 0.0) -> tuple[np.ndarray, float]:
    """The HCQT a model of ``features`` reads for ``output`` (its linear magnitude; the log-HCQT
    for an embedding) with its filters on the recording's tuning, and that tuning in cents."""
    from .tuning import resolve_tuning

    tuning = resolve_tuning(tuning, y, sr=int(features["sr"]))
    feats = {**features, "fmin": float(features["fmin"]) * 2.0 ** (tuning / 1200.0)}
    return input_hcqt(y, feats, engine=engine, log=output == "embedding"), float(tuning)


def deep_features(y: np.ndarray | None, lm: LoadedModel, *, output: str = D.DEEP_KIND, device: str = D.DEVICE,
                  engine=None, tuning: str | float = 0.0, precision: str = D.INFERENCE_PRECISION,
                  prepared: tuple[np.ndarray, float] | None = None) -> Features:
    """Deep features of a signal at the model's feature rate.

    output : "chroma" (12, N), ε dropped and columns ℓ2-normalised (ctc-chroma; pitchclass gives
        its activations, multipitch folds its semitones); "pitch" (72, N) semitone salience C1–B6
        (multipitch models); "probs" (13, N) the ctc-chroma posteriors with ε last; "embedding"
        (dims, N) unit vectors of an embedding model, each of the excerpt centred on its frame.
    tuning : cents from A440 the HCQT filters are centred on (the recording's tuning), or
        "auto" to estimate it from ``y``
    precision : "auto", "float32", "bfloat16" or "int8" arithmetic of the network
        (``INFERENCE_PRECISION``; "auto" takes float32 for a network int8 does not run)
    prepared : :func:`network_input`'s result computed already (``y`` is then not read)
    """
    from .device import resolve_precision
    from .features import normalize

    arch = lm.arch
    if (output == "embedding") != (arch == "embedding"):
        raise ModelError(f"kind={output!r} needs {'an embedding' if output == 'embedding' else 'a chroma or pitch'} "
                         f"model; {Path(lm.source).name} is {arch}")
    if output == "pitch" and arch != "multipitch":
        raise ModelError(f"kind='pitch' needs a multipitch model; {Path(lm.source).name} is {arch}")
    if output == "probs" and arch != "ctc-chroma":
        raise ModelError(f"kind='probs' needs a ctc-chroma model; {Path(lm.source).name} is {arch}")
    H, tuning = prepared or network_input(y, lm.features, output=output, engine=engine, tuning=tuning)
    if output == "embedding":
        from .embedding import frame_embeddings

        act, precision = frame_embeddings(lm.model, model_input(H, lm.features), device=device), "float32"
    else:
        ref = log_reference(float(H.max())) if H.size else 0.0
        precision = resolve_precision(precision, device, lm.model)
        act = network_output(lm, H, device=device, magnitude_ref=ref, precision=precision).T  # (n_outputs, N)
    if output == "chroma":
        if arch == "ctc-chroma":
            act = normalize(act[: D.N_CHROMA])
        elif arch == "multipitch":
            act = normalize(np.stack([act[c::D.N_CHROMA].sum(0) for c in range(D.N_CHROMA)]))
        else:
            act = normalize(act)
    params = {"model": Path(lm.source).name, "arch": arch, "output": output,
              **{k: v for k, v in lm.features.items() if k not in ("kind",)}, "tuning": float(tuning),
              "precision": precision, "device": device}
    return Features(act.astype(np.float32), float(lm.features["feature_rate"]), f"deep-{output}", params)


def extract(audio: str | Path | np.ndarray, *, model: str | Path | None = None, kind: str = D.DEEP_KIND,
            tuning: str | float = D.TUNING, device: str = D.DEVICE,
            precision: str = D.INFERENCE_PRECISION) -> Features:
    """Deep features of one recording with a trained model.

    Parameters
    ----------
    audio : a file path, or mono audio at the model's sample rate (22050 Hz)
    model : a packaged model name or a .pt file; by default the packaged model for ``kind``
    kind : "chroma" (12, N), "pitch" (72, N) salience C1–B6, "probs" (13, N) CTC posteriors or
        "embedding" (dims, N) of a cross-version (or single-version) embedding model
    tuning : the recording's deviation from A440 in cents, or "auto" to estimate it
    device : "cpu" or "cuda"
    precision : the network's arithmetic: "auto" (bfloat16 on a CPU with bfloat16 units, int8
        on one with VNNI units), "float32", "bfloat16" or "int8"

    Returns
    -------
    Features at the model's feature rate

    Examples
    --------
    >>> import numpy as np
    >>> from chromatool import extract
    >>> t = np.arange(2 * 22050) / 22050
    >>> y = sum(np.sin(2 * np.pi * f * t) for f in (261.6, 329.6, 392.0)).astype(np.float32)  # C major
    >>> f = extract(y, kind="pitch")
    >>> f.data.shape[0], f.feature_rate
    (72, 25.0)
    >>> sorted(int(i) % 12 for i in np.argsort(f.data.mean(axis=1))[-3:])  # C, E, G
    [0, 4, 7]
    """
    from .audio import load_audio

    if kind not in OUTPUTS:
        raise ParameterError(f"kind must be one of {', '.join(OUTPUTS)}, got {kind!r}")
    lm = cached_model(str(model) if model is not None else None, device, kind)
    sr = int(lm.features["sr"])
    y = load_audio(audio, sr=sr) if isinstance(audio, (str, Path)) else np.asarray(audio, dtype=np.float32)
    return deep_features(y, lm, output=kind, device=device, tuning=tuning, precision=precision)
