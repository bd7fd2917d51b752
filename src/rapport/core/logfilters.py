"""Log filters wired in settings.LOGGING."""

from __future__ import annotations

import logging


class ClientErrorsWithoutTraceback(logging.Filter):
    """Django's request log attaches the exception to "Forbidden (Permission denied)" and other 4xx
    answers, so every refused page printed a full traceback although nothing went wrong. For answers
    below 500 the record keeps its one line (method, path, status); 5xx records keep their traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if isinstance(status, int) and status < 500 and record.exc_info:
            record.exc_info = None
            record.exc_text = None
        return True
