"""Helpers the tests share: plain functions, classes and constants (no tests, no fixtures).

Test modules and conftest files import from here, never from one another; fixtures live in the
conftest.py files (tests/conftest.py for those every directory uses)."""
