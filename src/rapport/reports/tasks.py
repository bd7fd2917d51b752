"""Background jobs and periodic schedules of reports."""
