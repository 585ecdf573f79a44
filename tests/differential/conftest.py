"""The PostgreSQL server of the stand-in tests (tests/standin/pgserver.py), for the PostgreSQL scenario."""

from tests.standin.conftest import pg  # noqa: F401  (a fixture, used by name)
