"""Reports adds nothing to ``rapport demo``."""
