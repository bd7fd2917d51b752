"""Reports pages, one module per page family."""
