"""Background jobs of imports: the dry run, the import and its undo, each resumable (imports.services)."""

from __future__ import annotations

from typing import Any

from rapport.jobs import job

from . import services

MAX_ATTEMPTS = 3
PHASES = {"check": services.run_check, "run": services.run_import, "undo": services.run_undo}


@job(max_attempts=MAX_ATTEMPTS, backoff=5, takes_context=True)
def run_import_phase(context: Any, import_id: int, phase: str) -> str:
    """Work one phase of an import through; a retry (or another worker after this one died) resumes
    from the phase's checkpoint. Returns the import's status."""
    try:
        return PHASES[phase](import_id).status
    except Exception as exc:
        if context.task_result.attempts >= MAX_ATTEMPTS:
            services.fail(import_id, f"Stopped: {exc}")
        raise
