"""A fake OpenAI-compatible chat-completions server on 127.0.0.1, for the real groq and openai SDKs.

Serves both the Groq path (`/openai/v1/chat/completions`, what `AsyncGroq` calls) and the OpenAI one
(`/v1/chat/completions`), streaming (SSE) and not. Behaviour is scripted per test: the reply (a string or a
function of the request), a number of 429s (with Retry-After) or 500s to return first, and a required key.
"""

from __future__ import annotations

import array
import asyncio
import base64
import hashlib
import io
import json
import threading
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.webserver import serve_app


@dataclass
class FakeLLM:
    reply: str | Callable[[dict[str, Any]], str] = "The answer is in the documents [1]."
    api_key: str = "gsk-test-key"
    rate_limit_first: int = 0
    fail_first: int = 0
    retry_after: str = "0"
    token_delay: float = 0.0  # seconds between streamed tokens, like a real model writing
    stall_s: float = 0.0  # seconds to wait before answering at all (a hung upstream)
    gate: threading.Event | None = None  # when given, answers wait until it is set (a model still writing)
    # Speech-to-text: segments for an uploaded audio file (bytes, file name); the default is one segment spanning a
    # WAV's duration, saying which upload it was.
    transcript: Callable[[bytes, str], list[dict[str, Any]]] | None = None
    transcriptions: list[dict[str, Any]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    in_flight: int = 0  # chat requests being answered now, and the most at once
    most_in_flight: int = 0
    url: str = ""
    _runner: web.AppRunner | None = None

    async def start(self) -> FakeLLM:
        app = web.Application()
        app.router.add_post("/openai/v1/chat/completions", self._chat)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_post("/openai/v1/audio/transcriptions", self._transcribe)
        self._runner, port = await serve_app(app, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _error(self, status: int, message: str, kind: str, headers: dict[str, str] | None = None) -> web.Response:
        self.statuses.append(status)
        body = {"error": {"message": message, "type": kind, "code": kind}}
        return web.Response(status=status, body=json.dumps(body).encode(), content_type="application/json",
                            headers=headers)

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            return await self._answer(request)
        finally:
            self.in_flight -= 1

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        if self.stall_s:
            await asyncio.sleep(self.stall_s)
        if self.gate is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.gate.wait)
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return self._error(401, "Invalid API Key", "invalid_api_key")
        if self.rate_limit_first > 0:
            self.rate_limit_first -= 1
            return self._error(429, "Rate limit reached", "rate_limit_exceeded", {"Retry-After": self.retry_after})
        if self.fail_first > 0:
            self.fail_first -= 1
            return self._error(500, "Internal error", "server_error")
        text = self.reply(body) if callable(self.reply) else self.reply
        self.statuses.append(200)
        if not body.get("stream"):
            return web.Response(body=json.dumps(self._completion(body, text)).encode(),
                                content_type="application/json")
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        words = text.split(" ")
        deltas = [{"role": "assistant", "content": ""}] + [
            {"content": w + (" " if i < len(words) - 1 else "")} for i, w in enumerate(words)]
        for delta in deltas:
            await response.write(f"data: {json.dumps(self._chunk(body, delta, None))}\n\n".encode())
            if self.token_delay:
                await asyncio.sleep(self.token_delay)
        await response.write(f"data: {json.dumps(self._chunk(body, {}, 'stop'))}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    async def _transcribe(self, request: web.Request) -> web.Response:
        """Groq's Whisper endpoint: multipart form (file, model, response_format, timestamp_granularities[])."""
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return self._error(401, "Invalid API Key", "invalid_api_key")
        form = await request.post()
        upload = form["file"]
        audio = upload.file.read()  # type: ignore[union-attr]
        self.transcriptions.append({"model": form.get("model"), "response_format": form.get("response_format"),
                                    "granularities": form.getall("timestamp_granularities[]", []),
                                    "filename": upload.filename, "bytes": len(audio)})  # type: ignore[union-attr]
        if self.transcript is not None:
            segments = self.transcript(audio, upload.filename)  # type: ignore[union-attr]
        else:
            with wave.open(io.BytesIO(audio)) as clip:
                duration = clip.getnframes() / clip.getframerate()
            segments = [{"start": 0.0, "end": duration, "text": f" Upload {len(self.transcriptions)}."}]
        self.statuses.append(200)
        body = {"text": "".join(s["text"] for s in segments), "segments": segments, "language": "en",
                "duration": segments[-1]["end"] if segments else 0}
        return web.Response(body=json.dumps(body).encode(), content_type="application/json")

    async def _embeddings(self, request: web.Request) -> web.Response:
        """Deterministic pseudo-embeddings (from a hash of the text), float lists or base64 as the SDK asks."""
        body = await request.json()
        self.requests.append(body)
        if self.stall_s:
            await asyncio.sleep(self.stall_s)
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return self._error(401, "Incorrect API key provided", "invalid_api_key")
        dim = body.get("dimensions") or 1536
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = []
        for i, text in enumerate(inputs):
            seed = hashlib.sha256(text.encode()).digest()
            vector = [((seed[j % 32] ^ (j * 31 % 256)) - 127.5) / 128 for j in range(dim)]
            encoded = (base64.b64encode(array.array("f", vector).tobytes()).decode()
                       if body.get("encoding_format") == "base64" else vector)
            data.append({"object": "embedding", "index": i, "embedding": encoded})
        self.statuses.append(200)
        payload = {"object": "list", "data": data, "model": body["model"],
                   "usage": {"prompt_tokens": 1, "total_tokens": 1}}
        return web.Response(body=json.dumps(payload).encode(), content_type="application/json")

    @staticmethod
    def _completion(body: dict[str, Any], text: str) -> dict[str, Any]:
        return {"id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
                "model": body.get("model", "fake"),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20}}

    @staticmethod
    def _chunk(body: dict[str, Any], delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
        return {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()),
                "model": body.get("model", "fake"),
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
