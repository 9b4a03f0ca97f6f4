"""The console's fixtures (a small world, cheap argon2, chromium and a live site) for the data-subject request pages."""

from tests.console.conftest import cheap_argon2, world  # noqa: F401
from tests.console.test_browser import chromium, site  # noqa: F401
