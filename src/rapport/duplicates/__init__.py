"""Duplicate detection (on create, on import, by a periodic scan), the review queue, and merge of
records of one type."""
