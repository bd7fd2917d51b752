"""Database backends: Django's, with what Rapport's hot paths need changed (``sqlite3``)."""
