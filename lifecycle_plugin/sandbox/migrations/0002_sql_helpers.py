"""Database objects the sandbox host needs that Django's model options cannot express.

- An index on the account e-mail as the host normalises it (``lower(trim(email))``),
  so accounts are found by e-mail and listed in e-mail order without a scan.
- A sequence for order numbers (Saleor numbers orders from a sequence too).
"""

from django.conf import settings
from django.db import migrations

USER_EMAIL_INDEX = "sandbox_user_email_norm_idx"
ORDER_NUMBER_SEQUENCE = "lifecycle_sandbox_order_number_seq"


def _user_table(apps):
    app_label, model_name = settings.AUTH_USER_MODEL.split(".")
    return apps.get_model(app_label, model_name)._meta.db_table


def forwards(apps, schema_editor):
    qn = schema_editor.quote_name
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {qn(USER_EMAIL_INDEX)} ON {qn(_user_table(apps))} (lower(trim(email)))"
    )
    schema_editor.execute(
        f"CREATE SEQUENCE IF NOT EXISTS {qn(ORDER_NUMBER_SEQUENCE)} "
        f"OWNED BY {qn('lifecycle_sandbox_order')}.{qn('number')}"
    )


def backwards(apps, schema_editor):
    qn = schema_editor.quote_name
    schema_editor.execute(f"DROP INDEX IF EXISTS {qn(USER_EMAIL_INDEX)}")
    schema_editor.execute(f"DROP SEQUENCE IF EXISTS {qn(ORDER_NUMBER_SEQUENCE)}")


class Migration(migrations.Migration):
    dependencies = [
        ("lifecycle_sandbox", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
