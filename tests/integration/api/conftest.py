"""The stack the tests of this package share (see :mod:`tests.integration.api.async_stack`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.api.async_stack import SharedStack


@pytest.fixture(scope="package")
def shared_stack() -> Iterator[SharedStack]:
    """The whole stack, started by the first module that asks for it, stopped after the package's last test.

    Each module takes its view with ``shared_stack.for_module(name)`` (its own key and webhook receiver).
    """
    shared = SharedStack()
    try:
        yield shared
    finally:
        shared.close()
