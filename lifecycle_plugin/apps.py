from datetime import timedelta

from django.apps import AppConfig
from django.conf import settings


def beat_schedule() -> dict:
    from celery.schedules import crontab

    return {
        # Normally the event that raises the inbox's flag queues the drain; this
        # catches what that misses (a broker hiccup, the race in engine/inbox.py).
        "lifecycle-drain-events": {
            "task": "lifecycle_plugin.drain_events",
            "schedule": timedelta(minutes=1),
            "options": {"expires": 60},
        },
        # Changes whose event never reached the inbox (engine/reconcile.py).
        "lifecycle-reconcile": {
            "task": "lifecycle_plugin.reconcile",
            "schedule": timedelta(minutes=10),
            "options": {"expires": 600},
        },
        "lifecycle-sweep": {
            "task": "lifecycle_plugin.sweep",
            "schedule": timedelta(minutes=10),
            "options": {"expires": 600},
        },
        "lifecycle-due-actions": {
            "task": "lifecycle_plugin.run_due_actions",
            "schedule": timedelta(minutes=5),
            "options": {"expires": 300},
        },
        "lifecycle-daily-tick": {
            "task": "lifecycle_plugin.daily_tick",
            "schedule": crontab(hour=3, minute=30),
            "options": {"expires": 6 * 3600},
        },
    }


class LifecycleConfig(AppConfig):
    name = "lifecycle_plugin"
    label = "lifecycle_plugin"
    verbose_name = "Customer lifecycle"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Saleor's beat reads CELERY_BEAT_SCHEDULE lazily (and its DatabaseScheduler
        # upserts entries by name), so adding ours here registers the periodic jobs
        # in every process that loads the app: web, worker and beat.
        schedule = getattr(settings, "CELERY_BEAT_SCHEDULE", None)
        if isinstance(schedule, dict):
            for name, entry in beat_schedule().items():
                schedule.setdefault(name, entry)
