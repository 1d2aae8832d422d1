# Marketing opt-outs recorded by the unsubscribe link in every marketing message.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('lifecycle_plugin', '0007_delivery_state'),
    ]

    operations = [
        migrations.CreateModel(
            name='MarketingOptOut',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('opted_out_at', models.DateTimeField()),
                ('source', models.CharField(max_length=16)),
                ('profile', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='opt_out', to='lifecycle_plugin.customerprofile')),
            ],
        ),
    ]
