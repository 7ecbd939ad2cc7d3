"""The errors chromatool raises. The CLI maps every ``ChromatoolError`` to one line and exit 1."""

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
    """An output cannot be written (exists without --overwrite, bad folder, ...)."""
