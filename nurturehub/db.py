"""COPY-based bulk insert for the hot paths (CSV import, large event batches): one helper for both."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from operator import attrgetter
from typing import Any

from django.db import connection, connections, models

# Fields whose Python value psycopg writes as is (on PostgreSQL): read the attribute, skip Django's preparation.
_PLAIN_FIELDS = (
    models.CharField,
    models.TextField,
    models.BooleanField,
    models.IntegerField,
    models.UUIDField,
    models.ForeignKey,
)


def _value_reader(field: models.Field, database: Any) -> Callable[[Any], Any]:
    if isinstance(field, _PLAIN_FIELDS):
        return attrgetter(field.attname)
    if type(field) is models.DateTimeField:  # aware datetimes are written as they are; auto_now via pre_save
        if field.auto_now or field.auto_now_add:
            return lambda obj: field.pre_save(obj, True)
        return attrgetter(field.attname)
    return lambda obj: field.get_db_prep_save(field.pre_save(obj, True), database)


def copy_insert(model: type[Any], objects: Iterable[Any], *, allocate_ids: bool = False) -> None:
    """INSERT many rows with COPY: Django's bulk_create prepares every value in Python, which costs more than
    the database's own work at thousands of rows (bench/import.py, bench/emit.py). Values go through each field's own
    `pre_save` / `get_db_prep_save` where they need it, so defaults and auto_now behave as with `save()`.
    `objects` may yield one reused instance per row (each is written before the next is read)."""
    meta = model._meta
    with connection.cursor() as cursor:
        if allocate_ids:
            objects = list(objects)
            if not objects:
                return
            # Table and column names come from the model, never from input.
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [meta.db_table, meta.pk.column, len(objects)],
            )
            for obj, (pk,) in zip(objects, cursor.fetchall(), strict=True):
                obj.pk = pk
        fields = list(meta.concrete_fields)
        database = connections[connection.alias]  # the real connection, not the thread-local proxy (hot loop)
        readers = [_value_reader(field, database) for field in fields]
        columns = ", ".join(database.ops.quote_name(field.column) for field in fields)
        with cursor.cursor.copy(f"COPY {database.ops.quote_name(meta.db_table)} ({columns}) FROM STDIN") as copy:
            for obj in objects:
                if obj.pk is None:
                    raise ValueError(f"{meta.label}: COPY needs the primary keys (a default or allocate_ids=True)")
                copy.write_row([read(obj) for read in readers])
