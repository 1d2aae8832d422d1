"""Vouchers know their owner's account; orders keep the code they redeemed."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("lifecycle_sandbox", "0003_account_confirmation"),
    ]

    operations = [
        migrations.AddField(
            model_name="voucher",
            name="customer_user_id",
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="order",
            name="voucher_code",
            field=models.CharField(blank=True, db_default="", default="", max_length=255),
        ),
    ]
