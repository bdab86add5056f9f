"""Errors a user can act on. The CLI prints their message as one line and exits non-zero."""

from __future__ import annotations


class TopicmapError(Exception):
    """Base class: the message is meant for a person and names the file, row or field at fault."""


class InputError(TopicmapError):
    """Documents or embeddings that cannot be used as given."""


class TreeFileError(TopicmapError):
    """A tree file that is missing, corrupt, from a newer schema or structurally broken."""


class OutputError(TopicmapError):
    """An output path that cannot be written."""
