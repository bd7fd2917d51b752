"""Errors raised by the write services; the API and pages turn them into answers naming the field."""

from __future__ import annotations


class RecordError(Exception):
    pass


class VersionConflict(RecordError):
    """The record changed since the client read it (If-Match did not match)."""

    def __init__(self, current_etag: str):
        super().__init__("The record was changed by someone else since you loaded it.")
        self.current_etag = current_etag


class PermissionDenied(RecordError):
    pass


class RecordGone(RecordError):
    """The record is in the recycle bin."""
