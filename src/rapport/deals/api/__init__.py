"""API endpoints of pipelines, stages, lost reasons and deal moves."""
