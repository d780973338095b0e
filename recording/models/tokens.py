"""Revoked join tokens: a deny list by token id, kept until the tokens expire."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class RevokedToken(models.Model):
    token_id = models.CharField(max_length=32, unique=True)
    account = models.CharField(max_length=64)
    channel = models.CharField(max_length=64)
    expires_at = models.BigIntegerField(help_text="the token's own expiry (Unix time): the row may go after it")
    revoked_at = models.DateTimeField(default=timezone.now)
    by = models.CharField(max_length=100, blank=True, default="")

    class Meta:
        ordering = ["-revoked_at"]

    def __str__(self) -> str:
        return f"RevokedToken({self.token_id} {self.account}@{self.channel})"
