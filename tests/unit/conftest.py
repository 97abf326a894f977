"""Unit tests never see the developer's BGREMOVE_* settings."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated(clean_environment: None) -> None:
    """Every unit test runs with BGREMOVE_* variables removed (see ``tests/conftest.py``)."""
