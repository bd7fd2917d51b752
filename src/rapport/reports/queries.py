"""Read-side helpers of reports."""
