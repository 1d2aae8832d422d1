from django.apps import AppConfig


class SandboxConfig(AppConfig):
    name = "lifecycle_plugin.sandbox"
    label = "lifecycle_sandbox"
    verbose_name = "Lifecycle sandbox store"
    default_auto_field = "django.db.models.BigAutoField"
