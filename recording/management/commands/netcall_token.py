"""`manage.py netcall_token --account A --channel C`: print a join token on the last line."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from recording.tokens import DEFAULT_GRANTS, GRANTS, token_mint, token_verify


class Command(BaseCommand):
    help = "Mint a signed join token bound to one account and one channel."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--account", required=True)
        parser.add_argument("--channel", required=True)
        parser.add_argument("--ttl", type=int, default=None, help="lifetime in seconds (default NETCALL_TOKEN_TTL)")
        parser.add_argument(
            "--grants",
            default=",".join(DEFAULT_GRANTS),
            help=f"comma list drawn from {','.join(GRANTS)} (default {','.join(DEFAULT_GRANTS)})",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        grants = [g for g in options["grants"].split(",") if g]
        try:
            token = token_mint(
                account=options["account"], channel=options["channel"], ttl=options["ttl"], grants=grants
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        parsed = token_verify(token)
        self.stdout.write(
            f"account={parsed.account} channel={parsed.channel} grants={','.join(sorted(parsed.grants))} "
            f"expires_at={parsed.expires_at}"
        )
        self.stdout.write(token)
