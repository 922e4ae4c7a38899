"""Exceptions a user can cause, each carrying a one-line message that says what to do.

The CLI catches :class:`TrigInferError`, prints its message on one line and
exits with status 2; library callers can catch the specific subclasses.
"""

from __future__ import annotations


class TrigInferError(Exception):
    """Base class for every error caused by user input (files, configs, models)."""

    exit_code = 2


class ConfigError(TrigInferError):
    """A run configuration is malformed: unknown key, wrong type, bad value."""


class InputFileError(TrigInferError):
    """An input file is missing, unreadable, not ROOT, truncated or empty."""


class MissingBranchError(InputFileError):
    """A tree or branch named by the branch map does not exist in the file."""


class BadValueError(InputFileError):
    """A branch holds NaN or infinite values, or values out of the allowed range."""


class UnsupportedModelError(TrigInferError):
    """A model has a layer or configuration the firmware chain cannot handle."""


class ShapeError(TrigInferError):
    """An input array has the wrong shape for the model or firmware."""


class ClusterError(TrigInferError):
    """A Dask scheduler cannot be reached, or was lost in the middle of a run."""


class MissingExtraError(TrigInferError, ModuleNotFoundError):
    """An optional dependency is not installed; the message names the pip extra."""
