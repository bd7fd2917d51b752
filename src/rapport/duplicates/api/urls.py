"""Duplicates endpoints under /api/v1/."""

from typing import Any

urlpatterns: list[Any] = []
