"""Read-side helpers of imports."""
