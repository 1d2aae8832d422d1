from django.apps import AppConfig


class SandboxConfig(AppConfig):
    name = "lifecycle_plugin.sandbox"
    label = "lifecycle_sandbox"
    verbose_name = "Lifecycle sandbox store"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # The plugin's shared tasks bind to the current Celery app: make it the sandbox's.
        from . import celery  # noqa: F401
