"""Imports endpoints under /api/v1/."""
