# Ledger entries held back by quiet hours wait for their not_before time.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('lifecycle_plugin', '0008_unsubscribe'),
    ]

    operations = [
        migrations.AddField(
            model_name='actionledgerentry',
            name='not_before',
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
