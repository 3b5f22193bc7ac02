"""Indexes for the dispatcher's one next-due statement (queries.sql `timers_next_due`, read by wakeup.py).

- engine_item_due: the next unleased queue item due (min(available_at) where lease_owner IS NULL); before, the
  statement scanned the whole queue table at every refresh;
- engine_run_unstarted and engine_run_started_open: a function's oldest unstarted run and earliest started
  unfinished run, for its start and finish timeouts (timeouts.py), partial so finished history is not in them.

Checked with EXPLAIN ANALYZE on 40,000 runs (40 unfinished) and 40,000 queue items (a third leased), analysed
(tests/engine/test_engine_timer_indexes.py keeps the check): every part is an Index Only Scan on its index, no
sequential scan of the queue or the runs; 0.15 ms for the whole statement, against 5.1 ms without these indexes
(a sequential scan of engine_queueitem and index scans of engine_run_function_status), on the shared machine.
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('engine', '0013_function_config_error'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='queueitem',
            index=models.Index(condition=models.Q(('lease_owner__isnull', True)), fields=['available_at'], name='engine_item_due'),
        ),
        migrations.AddIndex(
            model_name='run',
            index=models.Index(condition=models.Q(('started_at__isnull', True), ('status', 'queued')), fields=['function', 'created_at'], name='engine_run_unstarted'),
        ),
        migrations.AddIndex(
            model_name='run',
            index=models.Index(condition=models.Q(('started_at__isnull', False), ('status__in', ['queued', 'running'])), fields=['function', 'started_at'], name='engine_run_started_open'),
        ),
    ]
