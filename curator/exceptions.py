"""Every exception edu-curator raises, and only these.

::

    CuratorError
     ├── ConfigError          bad YAML, unknown or invalid field, changed config on resume
     ├── InputError           unreadable input path, no shards matched
     ├── OutputError          output not writable, disk full, existing build with another config
     ├── SchemaError          a table that does not fit a declared schema
     ├── ModelError           classifier missing, corrupt or of an unknown backend
     ├── ClusterError         Ray cluster address unreachable
     ├── LoaderError          a build output a training loader cannot serve (bad phase, recipe, state)
     └── TeacherError         teacher LLM unreachable or answering badly after retries
          └── TeacherResponseError   an answer that failed validation after retries

Messages say what went wrong *and what to do about it*.
"""

from __future__ import annotations


class CuratorError(Exception):
    """Base class of all edu-curator errors."""


class ConfigError(CuratorError):
    """The configuration is invalid or does not match an existing build."""


class InputError(CuratorError):
    """Input paths cannot be read."""


class OutputError(CuratorError):
    """The output location cannot be written."""


class SchemaError(CuratorError):
    """A table does not match a declared schema."""


class ModelError(CuratorError):
    """A classifier cannot be loaded or used."""


class ClusterError(CuratorError):
    """Ray cannot be started or reached."""


class LoaderError(CuratorError):
    """A build output, mixture recipe or saved loader position the training loaders cannot use."""


class TeacherError(CuratorError):
    """The teacher model cannot be reached or keeps failing."""


class TeacherResponseError(TeacherError):
    """A teacher answer failed validation after the allowed retries."""

    def __init__(self, message: str, raw: str = "") -> None:
        super().__init__(message)
        self.raw = raw


class DocumentError(CuratorError):
    """One document of a scoring request cannot be scored; the request, not the server, is at fault.

    ``index`` is the document's position in its request.
    """

    def __init__(self, index: int, message: str) -> None:
        super().__init__(message)
        self.index = index


class BuildStopped(CuratorError):
    """A build was stopped by a signal between units of work; everything committed so far is kept.

    ``signum`` is the signal; the CLI exits with ``128 + signum`` (130 for SIGINT, 143 for SIGTERM).
    """

    def __init__(self, signum: int) -> None:
        super().__init__("stopped; rerun the same command to resume")
        self.signum = signum
