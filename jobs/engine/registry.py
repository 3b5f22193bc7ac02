"""`POST /fn/register`: validate an app's function configs and store them.

What no function can be stored under (the app's name or URL, a function without an id, duplicate ids) fails the
sync and changes nothing. A function whose own config is invalid is stored with its error (`config_error`, shown in
the admin) and never started, while the app's other functions sync: one bad function no longer stops the others.
Inngest's own registration (pkg/registration/process.go `ProcessFunctions`) checks every function
(`SDKFunction.Function`, then `Function.Validate`) and collects each one's error instead of stopping at the first;
its dev server then rejects the whole sync with those errors ("At least one function is invalid",
pkg/devserver/api.go `register`). This engine keeps Inngest's per-function checks and collected errors, but stores
them per function: here every function of an app shares one sync, so one bad function would stop the app's jobs.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfoNotFoundError

from django.db import transaction
from django.utils import timezone

from . import expressions, hooks
from .models import App, Function, Trigger
from .protocol import DEFAULT_RETRIES, MAX_RETRIES, ProtocolError
from .services.cron import cron_next
from .triggers import is_wildcard

logger = logging.getLogger(__name__)

# Column widths (models.py): a longer value is a sync error naming the field, not a database error.
MAX_APP_NAME_LENGTH = 200
MAX_URL_LENGTH = 1000
MAX_FUNCTION_ID_LENGTH = 255
MAX_FUNCTION_NAME_LENGTH = 255
MAX_EVENT_NAME_LENGTH = 512
# The engine's own bound on one sync's work (each function is a few writes in one transaction: 3,000 took about a
# minute and held the app's row locked); an app here has a dozen.
MAX_FUNCTIONS_PER_APP = 500


@dataclass(frozen=True)
class FunctionSpec:
    slug: str
    name: str
    step_url: str
    retries: int
    concurrency: list[dict[str, Any]]
    events: list[tuple[str, str]]  # (event name, expression)
    crons: list[str]
    config: dict[str, Any]
    config_error: str = ""  # why the function's config is invalid: stored with it, and it never starts


@dataclass(frozen=True)
class RegisterResult:
    app: App
    modified: bool


def parse_register_body(body: object) -> tuple[dict[str, str], list[FunctionSpec]]:
    """Validate the SDK's register body; returns the app's fields and the function specs."""
    if not isinstance(body, dict):
        raise ProtocolError("register body must be a JSON object")
    lowered = {key.lower(): value for key, value in body.items()}
    app_name = lowered.get("appname")
    url = lowered.get("url")
    functions = lowered.get("functions")
    if not isinstance(app_name, str) or not app_name:
        raise ProtocolError("register body needs `appName` (or `appname`)")
    if not isinstance(url, str) or not url:
        raise ProtocolError("register body needs the app's `url`")
    if not isinstance(functions, list):
        raise ProtocolError("register body needs a `functions` array")
    if len(functions) > MAX_FUNCTIONS_PER_APP:
        raise ProtocolError(f"register body has {len(functions)} functions; the limit is {MAX_FUNCTIONS_PER_APP}")
    if len(app_name) > MAX_APP_NAME_LENGTH:
        raise ProtocolError(f"register body `appName` is longer than {MAX_APP_NAME_LENGTH} characters")
    if len(url) > MAX_URL_LENGTH:
        raise ProtocolError(f"register body `url` is longer than {MAX_URL_LENGTH} characters")
    specs = [_parse_function(config) for config in functions]
    slugs = [spec.slug for spec in specs]
    duplicates = sorted({slug for slug in slugs if slugs.count(slug) > 1})
    if duplicates:
        raise ProtocolError(f"duplicate function ids: {', '.join(duplicates)}")
    app = {
        "name": app_name,
        "url": url,
        "sdk": str(lowered.get("sdk") or ""),
        "framework": str(lowered.get("framework") or ""),
    }
    return app, specs


def _parse_function(config: object) -> FunctionSpec:
    """A function's spec; a config it cannot run with is a spec carrying `config_error` (ProtocolError only when
    there is no id to store it under)."""
    if not isinstance(config, dict) or not isinstance(config.get("id"), str) or not config["id"]:
        raise ProtocolError("every function needs a string `id`")
    slug = config["id"]
    if len(slug) > MAX_FUNCTION_ID_LENGTH:
        raise ProtocolError(f"function id {slug[:40]!r}... is longer than {MAX_FUNCTION_ID_LENGTH} characters")
    try:
        return _function_spec(slug, config)
    except ProtocolError as error:
        name = config.get("name")
        return FunctionSpec(
            slug=slug,
            name=name if isinstance(name, str) and 0 < len(name) <= MAX_FUNCTION_NAME_LENGTH else slug,
            step_url="",
            retries=DEFAULT_RETRIES,
            concurrency=[],
            # Its event names only: an event for it is then recorded as not started, saying why (triggers.py).
            events=[(name, "") for name in _event_names(config.get("triggers"))],
            crons=[],
            config={},
            config_error=str(error),
        )


def _event_names(triggers: object) -> list[str]:
    names = [t.get("event") for t in triggers if isinstance(t, dict)] if isinstance(triggers, list) else []
    return sorted({name for name in names if isinstance(name, str) and 0 < len(name) <= MAX_EVENT_NAME_LENGTH})


def _function_spec(slug: str, config: dict[str, Any]) -> FunctionSpec:
    def fail(message: str) -> ProtocolError:
        return ProtocolError(f"function {slug!r}: {message}")

    steps = config.get("steps")
    if not isinstance(steps, dict) or len(steps) != 1:
        raise fail("needs exactly one entry in `steps`")
    step = next(iter(steps.values()))
    runtime = step.get("runtime") if isinstance(step, dict) else None
    if not isinstance(runtime, dict) or runtime.get("type", "http") != "http" or not runtime.get("url"):
        raise fail("the step needs an http runtime with a `url`")
    if not isinstance(runtime["url"], str) or len(runtime["url"]) > MAX_URL_LENGTH:
        raise fail(f"the step's `url` must be a string of at most {MAX_URL_LENGTH} characters")
    name = config.get("name") or slug
    if not isinstance(name, str) or len(name) > MAX_FUNCTION_NAME_LENGTH:
        raise fail(f"`name` must be a string of at most {MAX_FUNCTION_NAME_LENGTH} characters")
    if not isinstance(step.get("retries") or {}, dict):
        raise fail("the step's `retries` must be an object with `attempts`")
    retries = (step.get("retries") or {}).get("attempts", DEFAULT_RETRIES)
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= MAX_RETRIES:
        raise fail(f"retries must be an integer from 0 to {MAX_RETRIES}")
    events, crons = _parse_triggers(config.get("triggers"), fail)
    concurrency = _parse_concurrency(config.get("concurrency"), fail)
    try:  # cancel, debounce, batchEvents and the flow gates, each checked by its feature as Inngest checks it
        hooks.config_check_all(config)
    except ProtocolError as error:
        raise fail(str(error)) from None
    return FunctionSpec(
        slug=slug,
        name=name,
        step_url=runtime["url"],
        retries=retries,
        concurrency=concurrency,
        events=events,
        crons=crons,
        config=config,
    )


def _parse_triggers(triggers: object, fail: Any) -> tuple[list[tuple[str, str]], list[str]]:
    if not isinstance(triggers, list) or not triggers:
        raise fail("needs at least one trigger")
    events: list[tuple[str, str]] = []
    crons: list[str] = []
    for trigger in triggers:
        if isinstance(trigger, dict) and isinstance(trigger.get("event"), str) and trigger["event"]:
            if len(trigger["event"]) > MAX_EVENT_NAME_LENGTH:
                raise fail(f"a trigger's `event` is longer than {MAX_EVENT_NAME_LENGTH} characters")
            if "*" in trigger["event"] and not is_wildcard(trigger["event"]):
                raise fail(
                    f"trigger {trigger['event']!r}: a wildcard `*` can only end the name, after a `/` or a `.` "
                    "(`app/*`, `app/user.*`); anywhere else no event would ever match it"
                )
            expression = trigger.get("expression") or ""
            if expression:
                try:
                    expressions.check(expression, what="trigger expression")
                except ProtocolError as error:
                    raise fail(str(error)) from None
            events.append((trigger["event"], expression))
        elif isinstance(trigger, dict) and isinstance(trigger.get("cron"), str):
            if trigger.get("jitter"):
                raise fail("cron jitter is not supported by the local engine")
            try:
                cron_next(trigger["cron"], after=timezone.now())
            except (ValueError, KeyError, ZoneInfoNotFoundError) as error:
                raise fail(f"invalid cron {trigger['cron']!r}: {error}") from None
            crons.append(trigger["cron"])
        else:
            raise fail(f"unsupported trigger {trigger!r}: use {{'event': ...}} or {{'cron': ...}}")
    return events, crons


def _parse_concurrency(entries: object, fail: Any) -> list[dict[str, Any]]:
    """Inngest's three forms (pkg/inngest/concurrency.go `ConcurrencyLimits.UnmarshalJSON`): a list of entries, one
    entry object, or a number, the documented shorthand for one function-scoped limit without a key."""
    if entries in (None, []):
        return []
    if isinstance(entries, int) and not isinstance(entries, bool):
        entries = [{"limit": entries}]
    if isinstance(entries, dict):
        entries = [entries]
    if not isinstance(entries, list) or len(entries) > 2:
        raise fail("concurrency takes at most two entries")
    parsed = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise fail("each concurrency entry is an object with `limit`")
        limit = entry.get("limit")
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise fail("concurrency `limit` must be a positive integer")
        scope = entry.get("scope") or "fn"
        if scope not in ("fn", "env", "account"):
            raise fail(f"concurrency scope {scope!r} is not one of fn, env, account")
        key = entry.get("key") or None
        if key is None and scope != "fn":
            raise fail(f"concurrency scope {scope!r} needs a `key`")
        if key is not None:
            try:
                expressions.check(key, what="concurrency key")
            except ProtocolError as error:
                raise fail(str(error)) from None
        parsed.append({"scope": scope, "key": key, "limit": limit})
    return sorted(parsed, key=lambda entry: entry["limit"])


def app_register(*, body: object) -> RegisterResult:
    """Store an app's functions (archiving ones it no longer has); a body no function can be stored from changes
    nothing, a function's invalid config is stored as its `config_error`."""
    try:
        app_fields, specs = parse_register_body(body)
    except ProtocolError as error:
        _record_sync_error(body, str(error))
        raise
    functions = {key.lower(): value for key, value in body.items()}["functions"]  # type: ignore[union-attr]
    checksum = hashlib.sha256(json.dumps(functions, sort_keys=True).encode()).hexdigest()
    now = timezone.now()
    with transaction.atomic():
        app, _ = App.objects.select_for_update().get_or_create(name=app_fields["name"], defaults=app_fields)
        modified = app.checksum != checksum or bool(app.sync_error)
        for field, value in app_fields.items():
            setattr(app, field, value)
        app.checksum, app.sync_error, app.synced_at = checksum, "", now
        app.save()
        if not modified:
            return RegisterResult(app=app, modified=False)  # the periodic re-sync of an unchanged app: nothing to do
        taken = Function.objects.filter(slug__in=[spec.slug for spec in specs]).exclude(app=app)
        if taken.exists():
            raise ProtocolError(f"function ids already belong to another app: {', '.join(f.slug for f in taken)}")
        for spec in specs:
            if spec.config_error:
                logger.warning("function config invalid", extra={"function": spec.slug, "error": spec.config_error})
                _store_invalid_function(app, spec)
            else:
                _store_function(app, spec, now=now)
        Function.objects.filter(app=app, archived_at__isnull=True).exclude(slug__in=[s.slug for s in specs]).update(
            archived_at=now
        )
    return RegisterResult(app=app, modified=modified)


def _store_function(app: App, spec: FunctionSpec, *, now: datetime) -> None:
    function, _ = Function.objects.update_or_create(
        slug=spec.slug,
        defaults={
            "app": app,
            "name": spec.name,
            "step_url": spec.step_url,
            "retries": spec.retries,
            "concurrency": spec.concurrency,
            "config": spec.config,
            "config_error": "",
            "archived_at": None,
        },
    )
    next_fire = {t.cron: t.next_fire_at for t in Trigger.objects.filter(function=function).exclude(cron="")}
    Trigger.objects.filter(function=function).delete()
    Trigger.objects.bulk_create(
        [Trigger(function=function, event_name=name, expression=expression) for name, expression in spec.events]
        + [
            Trigger(function=function, cron=cron, next_fire_at=next_fire.get(cron) or cron_next(cron, after=now))
            for cron in spec.crons
        ]
    )


def _store_invalid_function(app: App, spec: FunctionSpec) -> None:
    """Store the error; a function stored before keeps its last valid config (its queued runs go on with it) and
    loses its triggers but for its event names, so that nothing starts it and each event for it is recorded."""
    function, created = Function.objects.get_or_create(
        slug=spec.slug,
        defaults={"app": app, "name": spec.name, "step_url": "", "config_error": spec.config_error},
    )
    if not created:
        function.app, function.config_error, function.archived_at = app, spec.config_error, None
        function.save(update_fields=["app", "config_error", "archived_at", "updated_at"])
    Trigger.objects.filter(function=function).delete()
    Trigger.objects.bulk_create([Trigger(function=function, event_name=name) for name, _ in spec.events])


def _record_sync_error(body: object, message: str) -> None:
    """Keep the last sync error on the app (the admin shows it) without touching its functions."""
    if not isinstance(body, dict):
        return
    name, url = body.get("appname") or body.get("appName"), body.get("url")
    if isinstance(name, str) and name and isinstance(url, str):
        App.objects.update_or_create(
            name=name[:MAX_APP_NAME_LENGTH],
            defaults={"sync_error": message},
            create_defaults={"url": url[:MAX_URL_LENGTH], "sync_error": message},
        )
