#!/usr/bin/env bash
# Sets chromatool up on a fresh Debian machine with Python 3.11: system packages (FluidSynth and
# General MIDI soundfonts, libsndfile), a virtual environment in .venv, the CPU build of torch,
# then chromatool itself with its test dependencies and the Dask cluster extra. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
if command -v apt-get >/dev/null; then
  # csound-soundfont and opl3-soundfont: other timbres for the alignment benchmark recordings
  pkgs="fluidsynth fluid-soundfont-gm timgm6mb-soundfont csound-soundfont opl3-soundfont libsndfile1"
  missing=""
  for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
  if [ -n "$missing" ]; then
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing
  fi
fi
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# CPU torch first (a GPU user installs the CUDA build instead: see README), then chromatool.
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  .venv/bin/python -m pip install -q "torch==${TORCH_VERSION:-2.13.0}"
fi
.venv/bin/python -m pip install -q -e ".[dev,cluster]"
# librosa's numba caches written once, by one process: worker processes compiling them at the same
# moment can leave a mixed pair that crashes the next process to load it (numba issue 10128)
.venv/bin/python -c "from chromatool.batch import warm_numba_caches; warm_numba_caches()"
echo "chromatool is set up: .venv/bin/chromatool --help"
