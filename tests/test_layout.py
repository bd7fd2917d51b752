"""Every domain app split out of sales has the skeleton of DESIGN.md §14, so a reader knows where
anything lives; the old sales app keeps only its migration history."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import pytest
from django.apps import apps

SKELETON = ("models", "records", "serializers", "services", "queries", "tasks", "demo", "urls", "api.views", "api.urls")


@pytest.mark.parametrize("app", ["deals", "quotes", "forecasting", "invoices"])
def test_domain_app_has_the_skeleton(app):
    package = importlib.import_module(f"rapport.{app}")
    root = Path(package.__file__).parent
    for module in SKELETON:
        importlib.import_module(f"rapport.{app}.{module}")
    views = importlib.import_module(f"rapport.{app}.views")
    assert hasattr(views, "__path__"), f"{app}.views is a package of page modules"
    assert [m.name for m in pkgutil.iter_modules(views.__path__)], f"{app}.views has page modules"
    assert sorted((root / "templates" / app).glob("*.html")), f"{app}'s templates live in {app}/templates/{app}/"
    assert (root / "migrations" / "0001_initial.py").exists()


def test_sales_keeps_only_its_migrations():
    config = apps.get_app_config("sales")
    assert list(config.get_models()) == []
    root = Path(config.path)
    assert sorted(p.name for p in root.iterdir() if p.name != "__pycache__") == ["__init__.py", "apps.py", "migrations"]
    assert not (root.parent / "templates" / "sales").exists()
