"""Tenant ids: validated before they reach a Milvus filter expression, so no input can widen a search."""

from __future__ import annotations

import re
from collections.abc import Sequence

from rag.errors import InvalidTenantError

Scope = str | Sequence[str]  # what a read may cover: one tenant, or several (e.g. a channel and its workspace)

TENANT_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}")


def validate_tenant(tenant: str) -> str:
    """Return `tenant` unchanged if it is a safe id, else raise `InvalidTenantError`.

    Slack team ids (T0123), Discord guild ids (digits) and ids like `dm:U123` or `local` all pass; quotes,
    spaces, backslashes and operators never do, so the filter built from a tenant is always one literal.
    """
    if not isinstance(tenant, str) or not TENANT_PATTERN.fullmatch(tenant):
        raise InvalidTenantError(
            f"Invalid tenant id {tenant!r}: use 1–128 letters, digits or _ . : @ - (starting with a letter or digit)")
    return tenant


def scope_tenants(scope: Scope) -> tuple[str, ...]:
    """The validated, de-duplicated tenants of a read scope (never empty)."""
    tenants = (scope,) if isinstance(scope, str) else tuple(dict.fromkeys(scope))
    if not tenants:
        raise InvalidTenantError("A read needs at least one tenant.")
    return tuple(validate_tenant(t) for t in tenants)


def tenant_filter(scope: Scope) -> str:
    """The Milvus boolean expression that restricts a search or query to the tenants of `scope`."""
    tenants = scope_tenants(scope)
    if len(tenants) == 1:
        return f'tenant == "{tenants[0]}"'
    return "tenant in [" + ", ".join(f'"{t}"' for t in tenants) + "]"
