# Ledger entries: "sending" (committed before a message leaves) and "uncertain"; an index to report them.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('lifecycle_plugin', '0006_inbox_reconciliation'),
    ]

    operations = [
        migrations.AlterField(
            model_name='actionledgerentry',
            name='status',
            field=models.CharField(choices=[('pending', 'Pending'), ('done', 'Done'), ('failed', 'Failed (will be retried)'), ('skipped', 'Skipped'), ('cancelled', 'Cancelled'), ('sending', 'Sending'), ('uncertain', 'Uncertain (may have been sent; not retried)')], default='pending', max_length=16),
        ),
        migrations.AlterField(
            model_name='scheduledaction',
            name='status',
            field=models.CharField(choices=[('pending', 'Pending'), ('done', 'Done'), ('failed', 'Failed (will be retried)'), ('skipped', 'Skipped'), ('cancelled', 'Cancelled'), ('sending', 'Sending'), ('uncertain', 'Uncertain (may have been sent; not retried)')], default='pending', max_length=16),
        ),
        migrations.AddIndex(
            model_name='actionledgerentry',
            index=models.Index(condition=models.Q(('status__in', ['sending', 'uncertain'])), fields=['updated_at'], name='lifecycle_ledger_unsure_idx'),
        ),
    ]
