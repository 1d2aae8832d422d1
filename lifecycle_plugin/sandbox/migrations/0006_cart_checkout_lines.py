"""Checkout lines and the checkout's language, for abandoned-checkout reminders
(`SandboxHost.customer_checkouts`)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("lifecycle_sandbox", "0005_reconciliation"),
    ]

    operations = [
        migrations.AddField(
            model_name="checkout",
            name="language_code",
            field=models.CharField(default="en", max_length=35),
        ),
        migrations.CreateModel(
            name="CheckoutLine",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("product_name", models.CharField(max_length=386)),
                ("variant_name", models.CharField(blank=True, default="", max_length=255)),
                ("sku", models.CharField(blank=True, default="", max_length=255)),
                ("quantity", models.PositiveIntegerField(default=1)),
                ("checkout", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="lines",
                                               to="lifecycle_sandbox.checkout")),
            ],
        ),
    ]
