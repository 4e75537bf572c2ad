"""Console-state fixtures: users (from the web tests) and finished runs (from observability)."""

from tests.observability.conftest import finished_run
from tests.web.conftest import make_user

__all__ = ["finished_run", "make_user"]
