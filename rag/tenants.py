"""Tenant ids: validated before they reach a Milvus filter expression, so no input can widen a search."""

from __future__ import annotations

import re

from rag.errors import InvalidTenantError

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


def tenant_filter(tenant: str) -> str:
    """The Milvus boolean expression that restricts a search or query to one tenant."""
    return f'tenant == "{validate_tenant(tenant)}"'
