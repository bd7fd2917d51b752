"""Reports endpoints under /api/v1/."""
