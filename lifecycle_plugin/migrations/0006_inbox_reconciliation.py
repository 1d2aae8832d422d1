from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("lifecycle_plugin", "0005_deletion_tombstone"),
    ]

    operations = [
        migrations.AddField(
            model_name="inboxstate",
            name="reconciled_until",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
