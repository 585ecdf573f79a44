"""The PostgreSQL server of the stand-in tests (tests/standin/pgserver.py), for the PostgreSQL scenario."""

# a fixture, used by name
from tests.standin.conftest import pg  # noqa: F401  # pylint: disable=unused-import
