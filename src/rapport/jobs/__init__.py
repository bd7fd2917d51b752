"""Background jobs (DESIGN.md §6): Django's Tasks API on a database queue or RQ, with retries, idempotent
effects and a scheduler. App code declares ``@job`` functions and calls ``.enqueue()``; see docs/jobs.md."""

from .base import RapportTask, exponential_backoff, job, once
from .scheduler import periodic

__all__ = ["RapportTask", "exponential_backoff", "job", "once", "periodic"]
