"""Change times for the reconciliation's range read (`SandboxHost.changed_customers`):
the order's `updated_at`, and indexes on it, on the checkout's `updated_at` and on
the account's `date_joined` (a table this app does not own, so by SQL as in 0002).
"""

import django.db.models.functions.datetime
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


USER_JOINED_INDEX = "sandbox_user_joined_idx"


def _user_table(apps):
    app_label, model_name = settings.AUTH_USER_MODEL.split(".")
    return apps.get_model(app_label, model_name)._meta.db_table


def forwards(apps, schema_editor):
    qn = schema_editor.quote_name
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {qn(USER_JOINED_INDEX)} ON {qn(_user_table(apps))} (date_joined)"
    )


def backwards(apps, schema_editor):
    schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(USER_JOINED_INDEX)}")


class Migration(migrations.Migration):

    dependencies = [
        ('lifecycle_sandbox', '0004_voucher_redemption'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='order',
            name='updated_at',
            field=models.DateTimeField(db_default=django.db.models.functions.datetime.Now(), default=django.utils.timezone.now),
        ),
        migrations.AddIndex(
            model_name='checkout',
            index=models.Index(fields=['updated_at'], name='sandbox_checkout_updated_idx'),
        ),
        migrations.AddIndex(
            model_name='order',
            index=models.Index(fields=['updated_at'], name='sandbox_order_updated_idx'),
        ),
        migrations.RunPython(forwards, backwards, elidable=False),
    ]
