"""Duplicates endpoints under /api/v1/."""
