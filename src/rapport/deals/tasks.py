"""Background jobs of deals: none yet (quote expiry is in quotes/tasks.py). Jobs and periodic schedules
of deals go here, registered when the app is ready."""
