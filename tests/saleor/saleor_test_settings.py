"""Django settings for `python -m pytest tests/saleor`.

Inside a Saleor environment these are Saleor's own test settings. Without Saleor,
pytest-django still needs a settings module it can import, or the run would end
in an ImportError instead of the skips the test modules report; a minimal one
(no apps, no database) is enough for that.
"""

try:
    import saleor  # noqa: F401
except ImportError:
    SECRET_KEY = "tests-saleor-not-secret"
    USE_TZ = True
    INSTALLED_APPS: list[str] = []
    DATABASES: dict = {}
else:
    from saleor.tests.settings import *  # noqa: F403
