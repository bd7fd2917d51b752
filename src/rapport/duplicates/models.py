"""Duplicates's tables."""
