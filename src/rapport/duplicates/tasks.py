"""Background jobs and periodic schedules of duplicates."""
