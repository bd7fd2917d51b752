"""Reports's tables."""
