"""Background jobs and periodic schedules of imports."""
