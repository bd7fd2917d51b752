"""Imports's tables."""
