"""Read-side helpers of duplicates."""
