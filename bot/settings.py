"""The one settings object of a running bitrag: the RAG settings plus the bot's own."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator

from rag.database import SQLITE_PREFIX
from rag.errors import ConfigError
from rag.settings import RagSettings, load_settings


class Settings(RagSettings):
    default_tenant: str = Field(default="local", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"
    log_format: Literal["text", "json"] = "text"
    feedback_url: str = ""  # default sqlite:///BITRAG_HOME/feedback.sqlite3
    feedback_retention_days: int = Field(default=180, ge=0)  # stored answers and votes older than this go; 0 = keep
    uploads_dir: Path | None = None  # files of chat uploads until ingested, and the job records; BITRAG_HOME/uploads
    stream_interval_s: float = Field(default=1.0, ge=0.2, le=10)
    metrics_port: int = Field(default=9464, ge=0, le=65535)  # /metrics and /healthz beside the chat adapters
    rate_limit_user_per_min: int = Field(default=20, ge=0)  # questions per person per minute; 0 = no limit
    rate_limit_tenant_per_min: int = Field(default=300, ge=0)  # per workspace / server / knowledge base
    web_address: str = "127.0.0.1"  # the web UI; beyond loopback only with sign-in (WEB_AUTH)
    web_port: int = Field(default=8501, ge=1, le=65535)
    metrics_address: str = "127.0.0.1"  # /metrics and /healthz; 0.0.0.0 only for a scraper outside the host

    # Web UI sign-in (OpenID Connect through Streamlit's st.login): "slack" (Sign in with Slack: the person's
    # workspace and user id decide what they read, as in chat) or "oidc" (a company IdP: one knowledge base).
    web_auth: Literal["none", "slack", "oidc"] = "none"
    web_auth_metadata_url: str | None = None  # the IdP's /.well-known/openid-configuration (Slack's by default)
    web_auth_client_id: str | None = None
    web_auth_client_secret: SecretStr | None = None
    web_auth_cookie_secret: SecretStr | None = None  # signs the session cookie: 32+ random characters
    web_auth_redirect_url: str | None = None  # https://bitrag.example.com/oauth2callback, registered at the IdP
    web_tenant: str = Field(default="local", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$")  # oidc: the KB
    web_allowed_email_domains: str = ""  # oidc: comma-separated; empty = any verified email of the IdP
    web_admins: str = ""  # user ids or emails that may switch knowledge base and see insights

    # Slack
    slack_bot_token: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_api_url: str | None = None
    slack_port: int = Field(default=3000, ge=1, le=65535)
    slack_ingest_allowed: str = "all"  # who may add documents: all, admins, or user ids
    slack_admin_ids: str = ""  # user ids that count as admins besides workspace admins and owners
    slack_channel_scoped: bool = False  # documents added in a public channel serve that channel only
    slack_allow_shared_channels: bool = False  # Slack Connect channels: answered from their own documents only
    # How answers in threads appear: auto/native = Slack's native streaming (chat.startStream…), falling back to
    # edits where Slack refuses it (native also logs that as a warning); edit = chat.update once a STREAM_INTERVAL_S.
    stream_mode: Literal["auto", "native", "edit"] = "auto"
    # The reaction (its Slack name) by which the asker or an admin files a solved thread as a document; taking it
    # back forgets the document.
    slack_solved_reaction: str = Field(default="white_check_mark", pattern=r"^[a-z0-9_+'-]{1,100}$")

    # Discord
    discord_token: SecretStr | None = None
    discord_api_url: str | None = None
    discord_gateway_url: str | None = None
    discord_guild_ids: str = ""
    discord_ingest_allowed: str = "everyone"  # everyone, manage_guild, role:<name or id>, or user ids
    discord_admin_ids: str = ""  # user ids (or role:<name or id>) that count as admins besides Manage Server
    discord_solved_reaction: str = "✅"  # the emoji by which the asker or an admin files a solved thread

    @model_validator(mode="after")
    def _bot_paths_in_home(self) -> Settings:
        self.feedback_url = self.feedback_url or f"{SQLITE_PREFIX}{self.bitrag_home / 'feedback.sqlite3'}"
        self.uploads_dir = self.uploads_dir or self.bitrag_home / "uploads"
        return self

    @property
    def uploads(self) -> Path:
        """UPLOADS_DIR, always set once validated."""
        assert self.uploads_dir is not None
        return self.uploads_dir

    def slack_token(self) -> str:
        """The Slack bot token, checked before any network call; a `ConfigError` names the variable to fix."""
        if self.slack_bot_token is None:
            raise ConfigError("SLACK_BOT_TOKEN is not set: copy the Bot User OAuth Token (xoxb-…) from your Slack "
                              "app's OAuth & Permissions page into .env")
        if not self.slack_bot_token.get_secret_value().startswith("xoxb-"):
            raise ConfigError("SLACK_BOT_TOKEN must be a bot token starting with xoxb- (not a user or app token)")
        if self.slack_app_token is not None:
            if not self.slack_app_token.get_secret_value().startswith("xapp-"):
                raise ConfigError("SLACK_APP_TOKEN must be an app-level token starting with xapp- (Basic Information "
                                  "› App-Level Tokens, with the connections:write scope)")
        elif self.slack_signing_secret is None:
            raise ConfigError("HTTP mode needs SLACK_SIGNING_SECRET (Basic Information › App Credentials); or set "
                              "SLACK_APP_TOKEN to use Socket Mode")
        return self.slack_bot_token.get_secret_value()

    def discord_bot_token(self) -> str:
        """The Discord bot token, checked before any network call."""
        token = self.discord_token.get_secret_value().strip() if self.discord_token else ""
        if not token:
            raise ConfigError("DISCORD_TOKEN is not set: copy the bot token from the Developer Portal (your "
                              "application › Bot › Reset Token) into .env")
        if token.count(".") != 2 or " " in token:
            raise ConfigError("DISCORD_TOKEN does not look like a bot token (three dot-separated parts); copy it "
                              "again from the Developer Portal › Bot")
        return token

    @property
    def slack_configured(self) -> bool:
        return self.slack_bot_token is not None

    @property
    def discord_configured(self) -> bool:
        return self.discord_token is not None


def get_settings(**overrides: object) -> Settings:
    return load_settings(Settings, **overrides)
