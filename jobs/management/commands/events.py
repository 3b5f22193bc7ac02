"""`manage.py events list|send|resend|contract|check-compat`: the event catalogue, its contract and the outbox."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from jobs.compat import ROOT, CompatError, compare, contract_from_dir, contract_from_git, current_contract
from jobs.contract import CONTRACT_DIR, ContractError, write_contract
from jobs.emit import EventRejected, emit_raw, events_resend
from jobs.events import CATALOGUE


class Command(BaseCommand):
    help = "List the event catalogue, send one validated event, or resend pending events."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("list", help="each event name with its JSON schema")
        send = sub.add_parser("send", help="validate, log and send one event")
        send.add_argument("name", help="event name, e.g. lead/intent.score")
        send.add_argument("payload", help="the JSON payload (camelCase keys)")
        sub.add_parser("resend", help="send every pending event in the outbox")
        contract = sub.add_parser("contract", help="regenerate the JSON Schemas and the Zod module in contracts/")
        contract.add_argument("--out", type=Path, default=CONTRACT_DIR, help="contract directory (default: contracts/)")
        compat = sub.add_parser("check-compat", help="fail on breaking changes against an earlier contract")
        compat.add_argument("--against", required=True, help="a git ref (e.g. HEAD~1, origin/main) or a contract dir")
        compat.add_argument("--repo", type=Path, default=ROOT, help="the git repository of --against (default: here)")

    def handle(self, *args: object, action: str, **options: object) -> None:
        getattr(self, f"handle_{action.replace('-', '_')}")(**options)

    def handle_list(self, **options: object) -> None:
        for name in sorted(CATALOGUE):
            schema = CATALOGUE[name].model_json_schema(by_alias=True)
            self.stdout.write(self.style.MIGRATE_HEADING(name))
            self.stdout.write(json.dumps(schema, indent=2))

    def handle_contract(self, *, out: Path, **options: object) -> None:
        try:
            written = write_contract(out)
        except ContractError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"wrote {len(written)} files under {out}")

    def handle_check_compat(self, *, against: str, repo: Path, **options: object) -> None:
        try:
            earlier = (
                contract_from_dir(Path(against)) if Path(against).is_dir() else contract_from_git(against, repo=repo)
            )
        except CompatError as error:
            raise CommandError(str(error)) from None
        if not earlier:
            self.stdout.write(f"no event contract at {against}: nothing to compare (this is the first one)")
            return
        findings = compare(earlier, current_contract())
        for finding in findings:
            style = self.style.ERROR if finding.breaking else self.style.WARNING
            self.stdout.write(style(f"{'BREAKING' if finding.breaking else 'additive'}  {finding}"))
        breaking = [finding for finding in findings if finding.breaking]
        if breaking:
            raise CommandError(
                f"{len(breaking)} breaking change(s) against {against}: bump the event's version with an upcaster "
                "from the old one (docs/events.md), or make the change additive"
            )
        self.stdout.write(self.style.SUCCESS(f"compatible with {against} ({len(earlier)} events compared)"))

    def handle_send(self, *, name: str, payload: str, **options: object) -> None:
        try:
            data = json.loads(payload)
        except json.JSONDecodeError as error:
            raise CommandError(f"payload is not valid JSON: {error.msg} at position {error.pos}") from None
        if not isinstance(data, dict):
            raise CommandError("payload must be a JSON object")
        try:
            row = emit_raw(name, data, source="command:events")
        except EventRejected as error:
            lines = [f"  {'.'.join(map(str, e.get('loc', ()))) or '(payload)'}: {e.get('msg')}" for e in error.errors]
            raise CommandError(f"{name} rejected, nothing sent:\n" + "\n".join(lines)) from None
        if row.status == row.Status.SENT:
            self.stdout.write(self.style.SUCCESS(f"sent {name} as {row.event_id}"))
        else:
            raise CommandError(
                f"{name} stored as pending ({row.event_id}) but not sent: {row.last_error}. "
                "Run `manage.py events resend` once Inngest is reachable."
            )

    def handle_resend(self, **options: object) -> None:
        result = events_resend()
        self.stdout.write(f"sent {result.sent}, still pending {result.failed}")
        if result.failed:
            raise CommandError(f"{result.failed} events could not be sent; they stay pending")
