"""The ``rapport`` console script: Django's management commands with Rapport's settings."""

from __future__ import annotations

import os
import sys

# Operator commands whose statements may rightly run long (a migration building an index over a big table,
# a bulk demo load, a backup's row counts, a restore) run without the statement time limit meant for requests
# and jobs.
NO_STATEMENT_LIMIT = {"migrate", "demo", "backup", "restore", "upgrade"}


def main(argv: list[str] | None = None) -> None:
    args = argv if argv is not None else sys.argv[1:]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rapport.settings.base")
    if args and args[0] in NO_STATEMENT_LIMIT:
        os.environ["RAPPORT_DB_STATEMENT_TIMEOUT"] = "0"
    from django.core.management import execute_from_command_line

    execute_from_command_line(["rapport", *args])


if __name__ == "__main__":
    main()
