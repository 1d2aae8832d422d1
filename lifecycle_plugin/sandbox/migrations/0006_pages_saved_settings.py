from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("lifecycle_sandbox", "0005_reconciliation")]

    operations = [
        migrations.CreateModel(
            name="SavedSetting",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=255, unique=True)),
                ("value", models.TextField(blank=True, default="")),
            ],
        ),
    ]
