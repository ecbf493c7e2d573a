"""Error types. A LaminaError is the user's to fix (exit 2); anything else is ours (exit 1)."""

from __future__ import annotations

import difflib


class LaminaError(Exception):
    """Bad input or usage: the message names what was wrong, what was expected, and the fix."""

    exit_code = 2

    def __init__(self, message: str = "", exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code  # e.g. 1 for a failure that is not the user's input


class DataError(LaminaError):
    """A file, row or folder of the user's data cannot be used."""


class ConfigError(LaminaError):
    """A config key or value is unknown or invalid."""


class DecodeError(ValueError):
    """An input (file bytes or text) that cannot become a model input; the one error type of every modality's decode.

    ``prefixed``: the message reads after "cannot decode <modality> (...)"; False when it is a whole sentence.
    """

    prefixed = True


class UnsupportedFormat(DecodeError):
    """Bytes in a format lamina does not accept for the modality."""


class TooLarge(DecodeError):
    """An input whose header declares more than allowed (pixels, seconds, characters); nothing was decoded."""


def did_you_mean(word: str, choices) -> str:
    """Return " (did you mean 'x'?)" for the closest choice, or "" when none is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
