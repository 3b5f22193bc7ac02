# Joins the gates branch's migration with 0007 (pauses + delayed), for the branch that merged all three
# (i-pipeline); the lead's final merge migration replaces it and 0007.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("engine", "0005_flow_gates"),
        ("engine", "0007_merge_pauses_delayed"),
    ]

    operations = []
