"""The one settings object of a running bitrag: the RAG settings plus the bot's own."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr

from rag.settings import RagSettings, load_settings


class Settings(RagSettings):
    default_tenant: str = Field(default="local", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"
    log_format: Literal["text", "json"] = "text"
    feedback_url: str = "sqlite:///./data/feedback.sqlite3"
    feedback_retention_days: int = Field(default=180, ge=0)  # stored answers and votes older than this go; 0 = keep
    uploads_dir: Path = Path("./data/uploads")  # files of chat uploads until ingested, and the job records
    stream_interval_s: float = Field(default=1.0, ge=0.2, le=10)
    metrics_port: int = Field(default=9464, ge=0, le=65535)  # /metrics and /healthz beside the chat adapters
    rate_limit_user_per_min: int = Field(default=20, ge=0)  # questions per person per minute; 0 = no limit
    rate_limit_tenant_per_min: int = Field(default=300, ge=0)  # per workspace / server / knowledge base
    web_address: str = "127.0.0.1"  # the web UI; 0.0.0.0 in a container
    web_port: int = Field(default=8501, ge=1, le=65535)

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

    # Discord
    discord_token: SecretStr | None = None
    discord_api_url: str | None = None
    discord_gateway_url: str | None = None
    discord_guild_ids: str = ""
    discord_ingest_allowed: str = "everyone"  # everyone, manage_guild, role:<name or id>, or user ids
    discord_admin_ids: str = ""  # user ids (or role:<name or id>) that count as admins besides Manage Server

    @property
    def slack_configured(self) -> bool:
        return self.slack_bot_token is not None

    @property
    def discord_configured(self) -> bool:
        return self.discord_token is not None


def get_settings(**overrides: object) -> Settings:
    return load_settings(Settings, **overrides)
