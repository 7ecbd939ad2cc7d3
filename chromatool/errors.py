"""The errors chromatool raises. The CLI maps every ``ChromatoolError`` to one line and exit 1.

Library messages name the parameter and the offending value, so a Python caller can act on them:

>>> import numpy as np
>>> from chromatool import ChromatoolError, ParameterError, chroma
>>> try:
...     chroma(np.ones(1000), feature_rate=44)
... except ParameterError as exc:  # also a ChromatoolError and a ValueError
...     print(exc)
feature rate 44 Hz gives a non-integer hop at 22050 Hz (501.136 samples); choose a rate that divides 22050
"""

from __future__ import annotations


class ChromatoolError(Exception):
    """Base of every error a user can act on."""


class ParameterError(ChromatoolError, ValueError):
    """A bad argument value; the message names the offending value."""


class AudioError(ChromatoolError):
    """An audio file is missing, unreadable, truncated, empty or silent."""


class ScoreError(ChromatoolError):
    """A score file is missing, unparseable, unsupported or has no notes."""


class ModelError(ChromatoolError):
    """A model checkpoint is missing or malformed."""


class OutputError(ChromatoolError):
    """An output cannot be written (exists and not to be replaced, bad folder, ...)."""
