"""The one settings object of a running bitrag: the RAG settings plus the bot's own."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from rag.settings import RagSettings, load_settings


class Settings(RagSettings):
    default_tenant: str = Field(default="local", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"


def get_settings(**overrides: object) -> Settings:
    return load_settings(Settings, **overrides)
