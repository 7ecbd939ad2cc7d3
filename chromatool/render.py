"""Score rendering: a NoteList → audio, with FluidSynth and a General MIDI soundfont.

MusicNet synthesised its scores with a commercial synthesizer before aligning them; chromatool
does the same with FluidSynth (the ``fluidsynth`` program the set-up installs). Without
FluidSynth, :func:`synthesize` gives a plain additive rendering (harmonic partials with decaying
envelopes) that callers can fall back to. Also here: smooth random tempo curves with their
exact time maps, and noise/reverb augmentation.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from . import defaults as D
from .errors import ChromatoolError, ParameterError
from .score import NoteList

#: Where Debian's packages put General MIDI soundfonts (fluid-soundfont-gm, timgm6mb-soundfont).
#: (FluidR3 first: the score render of ``align`` uses the first one found; csound-soundfont and
#: opl3-soundfont give renders other timbres. The MuseScore General family is never looked for:
#: it is reserved for testing.)
SOUNDFONT_DIRS: tuple[str, ...] = ("/usr/share/sounds/sf2", "/usr/share/soundfonts", "/usr/share/sounds/sf3",
                                   "/usr/share/samples")
SOUNDFONT_NAMES: tuple[str, ...] = ("FluidR3_GM.sf2", "TimGM6mb.sf2", "default-GM.sf2", "sf_GMbank.sf2",
                                    "OPL-3_FM_128M.sf2")


class RenderError(ChromatoolError):
    """FluidSynth or a soundfont is missing, or rendering failed."""


def fluidsynth_path() -> str | None:
    return shutil.which("fluidsynth")


def find_soundfonts() -> list[Path]:
    """General MIDI soundfonts on this machine (``$CHROMATOOL_SOUNDFONTS`` first, ':'-separated)."""
    found: list[Path] = []
    env = os.environ.get("CHROMATOOL_SOUNDFONTS", "")
    for p in filter(None, env.split(":")):
        if Path(p).is_file():
            found.append(Path(p))
    for d in SOUNDFONT_DIRS:
        for name in SOUNDFONT_NAMES:
            p = Path(d) / name
            if p.is_file() and p.resolve() not in {f.resolve() for f in found}:
                found.append(p)
    return found


def can_render() -> bool:
    return fluidsynth_path() is not None and bool(find_soundfonts())


def to_pretty_midi(notes: NoteList, *, program: int | None = None):
    """A pretty_midi object with one instrument per part (GM program from the score, or
    ``program`` for all parts; piano where unknown)."""
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(initial_tempo=notes.tempo_bpm)
    for part in np.unique(notes.part):
        sel = notes.part == part
        progs = notes.program[sel]
        prog = program if program is not None else (int(progs[0]) if progs[0] >= 0 else 0)
        inst = pretty_midi.Instrument(program=int(np.clip(prog, 0, 127)))
        for on, off, p, v in zip(notes.onset[sel], notes.offset[sel], notes.pitch[sel], notes.velocity[sel]):
            if 0 <= p <= 127 and off > on:
                inst.notes.append(pretty_midi.Note(velocity=int(np.clip(v, 1, 127)), pitch=int(p),
                                                   start=float(on), end=float(off)))
        pm.instruments.append(inst)
    silence_at_end(pm)
    return pm


#: Seconds after the last note at which every channel is silenced ("all sound off").
SILENCE_AFTER: float = 3.0


def silence_at_end(pm) -> None:
    """Add "all sound off" (CC 120) to every instrument ``SILENCE_AFTER`` s after the last note:
    some soundfont samples never finish their release (TimGM6mb's cello), and FluidSynth's file
    rendering then runs until it is killed."""
    import pretty_midi

    end = pm.get_end_time() + SILENCE_AFTER
    for inst in pm.instruments:
        inst.control_changes.append(pretty_midi.ControlChange(number=120, value=0, time=end))


def render(notes: NoteList, *, sr: int = D.SAMPLE_RATE, soundfont: str | Path | None = None,
           program: int | None = None, reverb: bool = False, gain: float = 0.5,
           vibrato: np.random.Generator | None = None) -> np.ndarray:
    """Render notes with FluidSynth. Returns mono float32 audio at ``sr``, peak-normalised.
    With a generator as ``vibrato``, singers, strings and winds play with vibrato
    (:func:`chromatool.expressive.add_vibrato`)."""
    with tempfile.TemporaryDirectory(prefix="chromatool-render-") as tmp:
        mid = Path(tmp) / "in.mid"
        pm = to_pretty_midi(notes, program=program)
        if vibrato is not None:
            from .expressive import add_vibrato

            add_vibrato(pm, rng=vibrato)
        pm.write(str(mid))
        return render_midi_file(mid, sr=sr, soundfont=soundfont, reverb=reverb, gain=gain,
                                what=notes.source or "notes")


def _render_timeout(path: str | Path) -> float:
    """Seconds a render may take: FluidSynth writes files 50-100x faster than real time, and a
    render that runs on (a stuck voice) writes gigabytes a minute, so the limit follows the
    MIDI's length: 30 s plus half its duration."""
    import pretty_midi

    try:
        return 30.0 + 0.5 * float(pretty_midi.PrettyMIDI(str(path)).get_end_time())
    except Exception:  # noqa: BLE001 - FluidSynth reports unreadable files itself
        return 60.0


def render_midi_file(path: str | Path, *, sr: int = D.SAMPLE_RATE, soundfont: str | Path | None = None,
                     reverb: bool = False, gain: float = 0.5, what: str | None = None) -> np.ndarray:
    """Render a MIDI file as it is (controllers such as the sustain pedal included) with
    FluidSynth. Returns mono float32 audio at ``sr``, peak-normalised."""
    exe = fluidsynth_path()
    what = what or str(path)
    if exe is None:
        raise RenderError("FluidSynth is not installed (the set-up installs it: apt-get install fluidsynth)")
    if soundfont is None:
        fonts = find_soundfonts()
        if not fonts:
            raise RenderError("no General MIDI soundfont found (apt-get install fluid-soundfont-gm)")
        soundfont = fonts[0]
    if not Path(soundfont).is_file():
        raise RenderError(f"{soundfont}: no such soundfont")
    import soundfile as sf

    with tempfile.TemporaryDirectory(prefix="chromatool-render-") as tmp:
        wav = Path(tmp) / "out.wav"
        cmd = [exe, "-ni", "-q", "-g", str(gain), "-r", str(sr), "-F", str(wav), "-T", "wav",
               "-R", "1" if reverb else "0", "-C", "0", str(soundfont), str(path)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=_render_timeout(path))
        except subprocess.TimeoutExpired:
            raise RenderError(f"FluidSynth timed out rendering {what}") from None
        if proc.returncode != 0 or not wav.exists():
            raise RenderError(f"FluidSynth failed: {(proc.stderr or proc.stdout).strip()[:200]}")
        y, file_sr = sf.read(str(wav), dtype="float32", always_2d=True)
    y = y.mean(axis=1)
    if file_sr != sr:
        from .audio import resample

        y = resample(y, file_sr, sr)
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak <= 0:
        raise RenderError(f"FluidSynth rendered silence for {what}")
    return (0.9 * y / peak).astype(np.float32)


def synthesize(notes: NoteList, *, sr: int = D.SAMPLE_RATE, n_partials: int = 6,
               decay: float = 1.5) -> np.ndarray:
    """Additive rendering: each note a sum of harmonic partials (amplitude 1/h) with a short
    attack and an exponential decay. Deterministic; needs no FluidSynth."""
    n = int(np.ceil((notes.duration + 0.5) * sr))
    y = np.zeros(n, dtype=np.float64)
    for on, off, p, v in zip(notes.onset, notes.offset, notes.pitch, notes.velocity):
        a, b = int(on * sr), min(n, int(off * sr) + int(0.05 * sr))
        if b <= a:
            continue
        t = np.arange(b - a) / sr
        f0 = 440.0 * 2 ** ((p - 69) / 12)
        env = np.minimum(1.0, t / 0.01) * np.exp(-t * decay)
        env[-int(0.05 * sr):] *= np.linspace(1, 0, min(b - a, int(0.05 * sr)))
        tone = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, n_partials + 1) if f0 * h < sr / 2)
        y[a:b] += (v / 127.0) * env * tone
    peak = np.max(np.abs(y))
    if peak <= 0:
        raise ParameterError("nothing to synthesize: no audible notes")
    return (0.9 * y / peak).astype(np.float32)


class TempoCurve:
    """A smooth random tempo curve: local tempo factor ``r(t)`` (score seconds → performance
    seconds per score second), and its exact time map ``T(t) = ∫ r``.

    ``r`` is a sum of a few low-frequency sinusoids in log space, so factors stay in
    [1/max_ratio, max_ratio] times the global ``scale``.
    """

    def __init__(self, duration: float, *, rng: np.random.Generator, scale: float = 1.0,
                 max_ratio: float = 1.3, n_components: int = 3, step: float = 0.01):
        if duration <= 0:
            raise ParameterError(f"tempo curve needs a positive duration, got {duration}")
        self.grid = np.arange(0.0, duration + 1.0 + step, step)
        logr = np.zeros_like(self.grid)
        for _ in range(n_components):
            period = rng.uniform(4.0, 20.0)
            logr += rng.uniform(-1, 1) * np.sin(2 * np.pi * self.grid / period + rng.uniform(0, 2 * np.pi))
        if n_components:
            logr *= np.log(max_ratio) / max(np.max(np.abs(logr)), 1e-9)
        self.rate = scale * np.exp(logr)
        self.mapped = np.concatenate([[0.0], np.cumsum((self.rate[1:] + self.rate[:-1]) / 2 * step)])

    def __call__(self, t: np.ndarray) -> np.ndarray:
        """Performance time of score time(s) ``t``."""
        return np.interp(t, self.grid, self.mapped)

    def apply(self, notes: NoteList) -> NoteList:
        return replace(notes, onset=self(notes.onset), offset=self(notes.offset))


def add_noise(y: np.ndarray, *, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """White noise at a signal-to-noise ratio."""
    p = float(np.mean(y.astype(np.float64) ** 2))
    noise = rng.standard_normal(y.size) * np.sqrt(p / 10 ** (snr_db / 10))
    return (y + noise).astype(np.float32)


def add_reverb(y: np.ndarray, *, sr: int = D.SAMPLE_RATE, rt60: float = 1.2, wet: float = 0.3,
               rng: np.random.Generator) -> np.ndarray:
    """Convolution with a synthetic exponentially decaying noise impulse response."""
    from scipy.signal import fftconvolve

    n = int(rt60 * sr)
    ir = rng.standard_normal(n) * np.exp(-6.9 * np.arange(n) / n)
    ir /= np.sqrt(np.sum(ir**2))
    out = (1 - wet) * y + wet * fftconvolve(y, ir)[: y.size]
    return (out / max(np.max(np.abs(out)), 1e-9) * 0.9).astype(np.float32)


def detune(y: np.ndarray, cents: float, *, sr: int = D.SAMPLE_RATE) -> np.ndarray:
    """Play ``y`` ``cents`` sharp (negative: flat) by reading it faster, as a tape would: pitch
    and speed both change by ``2 ** (cents / 1200)``, so times shrink by that factor."""
    from .audio import resample

    k = 2.0 ** (cents / 1200.0)
    return resample(np.asarray(y, dtype=np.float32), sr * k, sr).astype(np.float32)


def applause(seconds: float, *, rng: np.random.Generator, sr: int = D.SAMPLE_RATE,
             claps_per_second: float = 40.0) -> np.ndarray:
    """Applause-like noise: many short, band-limited, decaying noise bursts at random times."""
    from scipy.signal import butter, sosfilt

    n = int(seconds * sr)
    y = np.zeros(n + sr // 10)
    burst = int(0.012 * sr)
    env = np.exp(-np.arange(burst) / (0.003 * sr))
    for t in rng.integers(0, max(n, 1), int(claps_per_second * seconds)):
        y[t:t + burst] += rng.uniform(0.3, 1.0) * env * rng.standard_normal(burst)
    y = sosfilt(butter(2, (600, 6000), btype="band", fs=sr, output="sos"), y)[:n]
    return (y / max(float(np.max(np.abs(y))), 1e-9)).astype(np.float32)


def pad(y: np.ndarray, *, lead: float, trail: float, kind: str = "silence", level_db: float = -20.0,
        rng: np.random.Generator, sr: int = D.SAMPLE_RATE) -> np.ndarray:
    """Add ``lead`` and ``trail`` seconds of room-tone silence (noise 60 dB down) or of
    ``applause`` at ``level_db`` relative to the recording's peak."""
    if kind not in ("silence", "applause"):
        raise ParameterError(f"kind must be silence or applause, got {kind!r}")
    peak = float(np.max(np.abs(y))) if y.size else 1.0

    def fill(seconds: float) -> np.ndarray:
        if kind == "applause":
            return applause(seconds, rng=rng, sr=sr) * peak * 10 ** (level_db / 20)
        return (rng.standard_normal(int(seconds * sr)) * peak * 1e-3).astype(np.float32)

    return np.concatenate([fill(lead), y, fill(trail)]).astype(np.float32)
