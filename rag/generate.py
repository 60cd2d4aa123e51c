"""Answer generation through a chat-completions API: Groq (`AsyncGroq`) or any OpenAI-compatible server
(`AsyncOpenAI` with `LLM_BASE_URL`: Ollama, vLLM, LM Studio…).

Both SDKs retry 429/5xx themselves (honouring Retry-After) up to `LLM_MAX_RETRIES`; what is left is turned
into an `LLMError` whose message names the setting to fix and never contains the key.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from rag.errors import ConfigError, LLMError
from rag.models import AnswerMode
from rag.settings import RagSettings


class ChatGenerator:
    def __init__(self, client: Any, model: str, mode: AnswerMode, provider: str, key_variable: str,
                 model_variable: str, temperature: float) -> None:
        self._client = client
        self._model = model
        self.mode: AnswerMode = mode
        self._provider = provider
        self._key_variable = key_variable
        self._model_variable = model_variable
        self._temperature = temperature

    async def complete(self, messages: list[dict[str, str]]) -> str:
        try:
            response = await self._client.chat.completions.create(
                model=self._model, messages=messages, temperature=self._temperature, stream=False)
        except Exception as exc:
            raise self._explain(exc) from exc
        return response.choices[0].message.content or ""

    async def stream(self, messages: list[dict[str, str]]) -> AsyncIterator[str]:
        try:
            stream = await self._client.chat.completions.create(
                model=self._model, messages=messages, temperature=self._temperature, stream=True)
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    yield chunk.choices[0].delta.content
        except Exception as exc:
            raise self._explain(exc) from exc

    def _explain(self, exc: Exception) -> Exception:
        """A user-facing `LLMError` for SDK errors (same class names in groq and openai); others pass through."""
        kind = type(exc).__name__
        status = getattr(exc, "status_code", None)
        if kind in ("AuthenticationError", "PermissionDeniedError"):
            return LLMError(f"{self._provider} rejected {self._key_variable} (HTTP {status}): check the key.")
        if kind == "NotFoundError":
            return LLMError(f"{self._provider} has no model {self._model!r} (HTTP 404): check {self._model_variable}.")
        if kind == "RateLimitError":
            return LLMError(f"{self._provider} is rate-limiting requests (HTTP 429) and retries did not help; "
                            "try again shortly.")
        if kind == "APITimeoutError":
            return LLMError(f"{self._provider} did not answer in time (LLM_TIMEOUT_S).")
        if kind == "APIConnectionError":
            return LLMError(f"{self._provider} could not be reached: check the network and the base URL.")
        if status is not None:
            return LLMError(f"{self._provider} answered with HTTP {status}.")
        return exc

    async def ping(self) -> None:
        """One one-token completion: proves the key, the base URL and the model name (for `bitrag doctor`)."""
        try:
            await self._client.chat.completions.create(model=self._model, max_tokens=1, stream=False,
                                                       messages=[{"role": "user", "content": "Say OK"}])
        except Exception as exc:
            raise self._explain(exc) from exc

    async def aclose(self) -> None:
        await self._client.close()


def create_generator(settings: RagSettings) -> ChatGenerator | None:
    """The configured LLM, or None for the extractive answerer. `LLM=auto` prefers Groq when a key is set."""
    choice = settings.llm
    if choice == "auto":
        choice = "groq" if settings.groq_api_key else "openai-compatible" if settings.llm_base_url else "extractive"
    common = {"max_retries": settings.llm_max_retries, "timeout": settings.llm_timeout_s}
    if choice == "groq":
        from groq import AsyncGroq

        if not settings.groq_api_key:
            raise ConfigError("LLM=groq needs GROQ_API_KEY (create one in the Groq console)")
        client = AsyncGroq(api_key=settings.groq_api_key.get_secret_value(), base_url=settings.groq_base_url,
                           **common)
        return ChatGenerator(client, settings.groq_model, "groq", "Groq", "GROQ_API_KEY", "GROQ_MODEL",
                             settings.llm_temperature)
    if choice == "openai-compatible":
        from openai import AsyncOpenAI

        if not settings.llm_base_url:
            raise ConfigError("LLM=openai-compatible needs LLM_BASE_URL (e.g. http://localhost:11434/v1 for Ollama)")
        key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else "not-needed"
        client = AsyncOpenAI(api_key=key, base_url=settings.llm_base_url, **common)
        return ChatGenerator(client, settings.llm_model, "openai-compatible", f"The LLM at {settings.llm_base_url}",
                             "LLM_API_KEY", "LLM_MODEL", settings.llm_temperature)
    return None
