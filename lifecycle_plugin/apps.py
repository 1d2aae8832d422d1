from django.apps import AppConfig


class LifecycleConfig(AppConfig):
    name = "lifecycle_plugin"
    label = "lifecycle_plugin"
    verbose_name = "Customer lifecycle"
    default_auto_field = "django.db.models.BigAutoField"
