from datetime import timedelta

from django.apps import AppConfig
from django.conf import settings


#: A periodic run that waited this share of its period in the broker is dropped when a
#: worker finally takes it: while workers are down the runs would otherwise pile up (one
#: drain a minute), and a late run does nothing the next one on its way does not do.
EXPIRES_SHARE = 0.9


def _every(task: str, period: timedelta) -> dict:
    return {"task": task, "schedule": period, "options": {"expires": period.total_seconds() * EXPIRES_SHARE}}


def beat_schedule() -> dict:
    from celery.schedules import crontab

    return {
        # Normally the event that raises the inbox's flag queues the drain; this
        # catches what that misses (a broker hiccup, the race in engine/inbox.py).
        "lifecycle-drain-events": _every("lifecycle_plugin.drain_events", timedelta(minutes=1)),
        # Changes whose event never reached the inbox (engine/reconcile.py).
        "lifecycle-reconcile": _every("lifecycle_plugin.reconcile", timedelta(minutes=10)),
        "lifecycle-sweep": _every("lifecycle_plugin.sweep", timedelta(minutes=10)),
        "lifecycle-due-actions": _every("lifecycle_plugin.run_due_actions", timedelta(minutes=5)),
        # A settings recompute is queued when the settings are saved; this resumes one whose
        # worker died (engine/recompute.py). One query when no run is open.
        "lifecycle-recompute": _every("lifecycle_plugin.recompute", timedelta(minutes=1)),
        # Before the daily tick, so its hooks see today's predictions.
        "lifecycle-predict": {
            "task": "lifecycle_plugin.predict",
            "schedule": crontab(hour=3, minute=0),
            "options": {"expires": 6 * 3600},
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
        from . import signals

        # Account deletions are handled by a signal, not a plugin hook: Saleor does not
        # call the hooks of a plugin that is switched off.
        signals.connect()
        # Saleor's beat reads CELERY_BEAT_SCHEDULE lazily (and its DatabaseScheduler
        # upserts entries by name), so adding ours here registers the periodic jobs
        # in every process that loads the app: web, worker and beat.
        schedule = getattr(settings, "CELERY_BEAT_SCHEDULE", None)
        if isinstance(schedule, dict):
            for name, entry in beat_schedule().items():
                schedule.setdefault(name, entry)
