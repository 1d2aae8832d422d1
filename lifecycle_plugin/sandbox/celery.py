"""The sandbox's Celery app.

Inside Saleor the plugin's shared tasks bind to Saleor's own app
(`saleor.celeryconf`). The sandbox has none, so without this one `.delay()` would
go to Celery's default app and its default broker (AMQP on localhost) whatever
the settings say. Like Saleor's, it reads the ``CELERY_*`` Django settings: tasks
run inline unless ``CELERY_BROKER_URL`` is set, and then a worker runs them::

    CELERY_BROKER_URL=redis://127.0.0.1:6379/0 \\
        DJANGO_SETTINGS_MODULE=lifecycle_plugin.sandbox.settings \\
        celery --app lifecycle_plugin.sandbox.celery worker
"""

from celery import Celery

app = Celery("lifecycle_sandbox")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Lazy: a worker imports lifecycle_plugin.tasks once Celery's Django fix-up has set Django up.
app.autodiscover_tasks(["lifecycle_plugin"])
app.set_default()
