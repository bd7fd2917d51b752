"""Background jobs of forecasting: none yet. Jobs and periodic schedules of forecasting (e.g. fetching
exchange rates) go here, registered when the app is ready."""
