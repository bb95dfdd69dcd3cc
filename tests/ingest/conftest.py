"""Fixtures of the importer tests: an empty lake folder and a store with the templates in it."""

from __future__ import annotations

import pytest

from tests.ingest.helpers import import_templates


@pytest.fixture
def lake(tmp_path):
    return tmp_path / "lake"


@pytest.fixture
def archived(store, org, lake):
    """The org tree with the template markets and customers."""
    import_templates(store, lake)
    return store
