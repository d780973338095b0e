"""`manage.py netcall_revoke TOKEN`: put a join token on the deny list (joins, library and uploads refuse it)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from recording.tokens import TokenError, token_revoke, token_verify


class Command(BaseCommand):
    help = "Revoke a join token until it expires."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("token")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            token = token_verify(options["token"])
        except TokenError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc
        if not token.id:
            raise CommandError("this token predates token ids and cannot be revoked; rotate NETCALL_SECRET_KEY")
        created = token_revoke(token, by="command")
        self.stdout.write(
            f"{'revoked' if created else 'already revoked'}: {token.id} ({token.account}@{token.channel})"
        )
