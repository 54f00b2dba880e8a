"""What an API key may do, declared on each API view in one line.

Every API view names, per HTTP method, the scope a key needs (`api_key_scopes =
scopes(read=Scope.DEPLOYMENTS_READ, write=Scope.DEPLOYMENTS_WRITE)`), `PUBLIC` when any
key (or none) will do, or `SESSION_ONLY` when keys are refused: keys never manage keys,
sessions, passwords or email. A view that declares nothing refuses keys, and a test checks
that every operation declares something, so a new endpoint cannot be reached by accident.
Sessions are not limited by scopes.
"""

from collections.abc import Mapping
from typing import Any, Final

from django.db import models


class Scope(models.TextChoices):
    DEPLOYMENTS_READ = "deployments:read", "Deployments: read"
    DEPLOYMENTS_WRITE = "deployments:write", "Deployments: create, stop, start, delete"
    SSH_KEYS_READ = "ssh_keys:read", "SSH keys: read"
    SSH_KEYS_WRITE = "ssh_keys:write", "SSH keys: add and delete"
    BILLING_READ = "billing:read", "Billing: balance, transactions, invoices"
    BILLING_TOPUP = "billing:topup", "Billing: top up"
    TICKETS_READ = "tickets:read", "Support tickets: read"
    TICKETS_WRITE = "tickets:write", "Support tickets: open and reply"
    ACCOUNT_READ = "account:read", "Account: read settings and activity"


SESSION_ONLY: Final = None
PUBLIC: Final = "public"

ScopeRequirement = str | None  # a Scope, PUBLIC, or SESSION_ONLY
READ_METHODS = ("GET", "HEAD", "OPTIONS")
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


def scopes(*, read: ScopeRequirement, write: ScopeRequirement) -> Mapping[str, ScopeRequirement]:
    """The requirement of every HTTP method: `read` for safe ones, `write` for the rest."""
    return {
        **{method: read for method in READ_METHODS},
        **{method: write for method in WRITE_METHODS},
    }


def scope_required(view: Any, method: str) -> tuple[bool, ScopeRequirement]:
    """(declared, requirement) for one method of one view; undeclared means refused."""
    declared: Mapping[str, ScopeRequirement] | None = getattr(view, "api_key_scopes", None)
    if declared is None or method.upper() not in declared:
        return False, SESSION_ONLY
    return True, declared[method.upper()]
