"""Companies and people: the first two record types."""
