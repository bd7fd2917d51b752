"""Server-rendered pages (Django templates + htmx) built from the registry."""
