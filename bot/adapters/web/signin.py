"""Sign-in for the web UI: who the person is (an OpenID Connect ID token, through Streamlit's `st.login`) and what
they may read, in the core's terms.

- `WEB_AUTH=slack` ("Sign in with Slack"): the ID token names the workspace (`https://slack.com/team_id`) and the
  user (`https://slack.com/user_id`); the person reads as in a DM with bitrag — what they alone may read: their
  own documents (the same as their DM uploads), those of the conversations they are in, and the workspace's only
  when Slack says they are a full member (not a guest, not of another organisation). That takes the bot token
  (SLACK_BOT_TOKEN, users:read): without it, or when Slack will not say, they read their own documents only.
- `WEB_AUTH=oidc` (Google, Okta, Keycloak, Entra…): everyone signed in reads the one knowledge base `WEB_TENANT`;
  `WEB_ALLOWED_EMAIL_DOMAINS` keeps out other organisations' accounts (verified emails only).
- `WEB_ADMINS` (user ids or emails) may switch knowledge base, change any document and see the insights page.

Without sign-in the web UI is the operator's console and listens on loopback only: `check_exposure` refuses to
serve it anywhere else, naming the settings to set.
"""

from __future__ import annotations

import ipaddress
import os
import stat
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from bot.access import Conversation, Kind, Person, Room, conversation_for, parse_ids
from bot.settings import Settings
from bot.terms import ConfigError, NotAllowedError

SLACK_METADATA = "https://slack.com/.well-known/openid-configuration"
SLACK_TEAM, SLACK_USER = "https://slack.com/team_id", "https://slack.com/user_id"
SIGN_IN_SETTINGS = ("WEB_AUTH (slack or oidc), WEB_AUTH_CLIENT_ID, WEB_AUTH_CLIENT_SECRET, WEB_AUTH_COOKIE_SECRET "
                    "and WEB_AUTH_REDIRECT_URL (plus WEB_AUTH_METADATA_URL for oidc)")


def is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def check_exposure(settings: Settings) -> None:
    """Refuse a web UI that anyone on the network could use without signing in; check a sign-in setup."""
    if settings.web_auth == "none":
        if not is_loopback(settings.web_address):
            raise ConfigError(
                f"WEB_ADDRESS={settings.web_address} would open the web UI to the network without sign-in: anyone "
                f"reaching the port could read, add and forget documents. Set {SIGN_IN_SETTINGS} to turn on "
                "sign-in (see the README's Web UI section), or keep WEB_ADDRESS=127.0.0.1.")
        return
    missing = [name for name, value in (
        ("WEB_AUTH_CLIENT_ID", settings.web_auth_client_id),
        ("WEB_AUTH_CLIENT_SECRET", settings.web_auth_client_secret),
        ("WEB_AUTH_COOKIE_SECRET", settings.web_auth_cookie_secret),
        ("WEB_AUTH_REDIRECT_URL", settings.web_auth_redirect_url),
        ("WEB_AUTH_METADATA_URL", settings.web_auth_metadata_url or (SLACK_METADATA if settings.web_auth == "slack"
                                                                      else None))) if not value]
    if missing:
        raise ConfigError(f"WEB_AUTH={settings.web_auth} needs {', '.join(missing)}: the client comes from your "
                          "identity provider's app registration, the cookie secret is 32+ random characters.")
    if not str(settings.web_auth_redirect_url).endswith("/oauth2callback"):
        raise ConfigError("WEB_AUTH_REDIRECT_URL must end with /oauth2callback (e.g. "
                          "https://bitrag.example.com/oauth2callback) and be registered with the identity provider.")
    if len(settings.web_auth_cookie_secret.get_secret_value()) < 32:  # type: ignore[union-attr]
        raise ConfigError("WEB_AUTH_COOKIE_SECRET is too short: use 32 or more random characters "
                          "(python -c 'import secrets; print(secrets.token_urlsafe(32))').")


def auth_section(settings: Settings) -> dict[str, str]:
    """The `[auth]` section of Streamlit's secrets for this sign-in."""
    return {
        "redirect_uri": str(settings.web_auth_redirect_url),
        "cookie_secret": settings.web_auth_cookie_secret.get_secret_value(),  # type: ignore[union-attr]
        "client_id": str(settings.web_auth_client_id),
        "client_secret": settings.web_auth_client_secret.get_secret_value(),  # type: ignore[union-attr]
        "server_metadata_url": settings.web_auth_metadata_url or SLACK_METADATA,
    }


def write_secrets(settings: Settings) -> Path:
    """Streamlit reads sign-in settings from a secrets.toml: write one readable by this user alone, in a fresh
    private folder (never the working directory), and return its path."""
    folder = Path(tempfile.mkdtemp(prefix="bitrag-auth-"))
    path = folder / "secrets.toml"
    lines = ["[auth]", *(f"{key} = {toml_string(value)}" for key, value in auth_section(settings).items())]
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(descriptor, "w") as out:
        out.write("\n".join(lines) + "\n")
    return path


def toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


Lookup = Callable[[str, str], Person]  # (workspace, user) → what Slack says of them


def signed_in_conversation(settings: Settings, claims: dict[str, Any], lookup: Lookup | None = None) -> Conversation:
    """The signed-in person's conversation; `NotAllowedError` when their account may not use bitrag. `lookup`
    asks Slack who a person is (`WEB_AUTH=slack`); without it nothing beyond their own documents is read."""
    admins = parse_ids(settings.web_admins)
    if settings.web_auth == "slack":
        team, user = claims.get(SLACK_TEAM), claims.get(SLACK_USER)
        if not team or not user:
            raise NotAllowedError("This sign-in did not say which Slack workspace and user you are; sign in with "
                                  "Slack again.")
        person = lookup(str(team), str(user)) if lookup else Person("slack", str(team), str(user), guest=None)
        if user in admins or str(claims.get("email", "")).lower() in admins:
            person = replace(person, admin=True)  # still only where Slack says they are a full member
        return conversation_for(person, Room(Kind.DM, "web"))  # reads like a DM: what they alone may read
    email = str(claims.get("email") or "").lower()
    domains = {d.strip().lower().lstrip("@") for d in settings.web_allowed_email_domains.split(",") if d.strip()}
    if domains and (claims.get("email_verified") is False or email.rpartition("@")[2] not in domains):
        raise NotAllowedError(f"{email or 'This account'} is not from an allowed organisation "
                              f"({', '.join(sorted(domains))}). Sign in with your work account.")
    user = email or str(claims.get("sub") or "")
    if not user:
        raise NotAllowedError("This sign-in did not say who you are; sign in again.")
    return Conversation(settings.web_tenant, user=user, platform="web", channel="web", kind=Kind.LOCAL,
                        admin=user in admins or str(claims.get("sub")) in admins, space=settings.web_tenant)
