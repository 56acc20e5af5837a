"""Project exceptions: every failure a person can cause maps to one of these.

Front ends catch :class:`SerError` and show its message on one line; anything
else is a bug and may show a traceback.
"""
from __future__ import annotations


class SerError(Exception):
    """Base class for errors that carry a message meant for a person."""


class ConfigError(SerError):
    """A configuration file or override is invalid.

    ``problems`` holds ``(path, message)`` pairs; ``str()`` lists them all.
    """

    def __init__(self, problems, source=None):
        if isinstance(problems, str):
            problems = [("", problems)]
        self.problems = list(problems)
        self.source = source
        super().__init__(self._format())

    def _format(self) -> str:
        head = f"invalid config {self.source}" if self.source else "invalid config"
        n = len(self.problems)
        lines = [f"{head}: {n} problem{'s' if n != 1 else ''}"]
        for path, msg in self.problems:
            lines.append(f"  {path}: {msg}" if path else f"  {msg}")
        return "\n".join(lines)

    def one_line(self) -> str:
        return "; ".join(f"{p}: {m}" if p else m for p, m in self.problems)


class PluginError(SerError):
    """A plugin could not be registered or found."""


class AudioError(SerError):
    """An audio input cannot be used. Subclasses say why."""


class AudioNotFoundError(AudioError):
    """The path does not exist or is not a file."""


class NotAudioError(AudioError):
    """The bytes are not an audio format we can decode."""


class EmptyAudioError(AudioError):
    """The recording holds no samples."""


class InvalidSamplesError(AudioError):
    """The recording holds NaN or infinite samples."""


class AudioTooShortError(AudioError):
    """The recording is shorter than the minimum duration."""


class AudioTooLongError(AudioError):
    """The recording is longer than the configured maximum duration."""


class NoSpeechError(AudioError):
    """The recording is silent: there is nothing to classify."""


class BundleError(SerError):
    """A model bundle is missing, incomplete, tampered with or inconsistent."""


class DataError(SerError):
    """A dataset could not be read or is unusable for the requested protocol."""


class ProfileError(SerError):
    """A speaker profile is malformed, too small, or made for another model's features."""


class StoreError(SerError):
    """The data folder's database cannot be used (unreadable, or written by a newer version)."""


class AccountError(SerError):
    """Sign-up or sign-in refused: a bad name or password, or a wrong one."""


class SignInThrottled(AccountError):
    """Too many failed sign-ins for this account or from this client; ``retry_after`` is in seconds."""

    def __init__(self, message: str, retry_after: float):
        super().__init__(message)
        self.retry_after = retry_after
