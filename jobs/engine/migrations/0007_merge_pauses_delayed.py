# Joins the pauses branch's migration with the delayed branch's, for the branch that merged both (i-pipeline);
# the lead's final merge migration replaces it.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("engine", "0004_pauses"),
        ("engine", "0006_debounce_batches"),
    ]

    operations = []
