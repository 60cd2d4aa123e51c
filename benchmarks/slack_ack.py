"""Slack ack latency: signed `/ask` requests to the real bolt app (HTTP mode on aiohttp) until the HTTP 200.

    python -m benchmarks.slack_ack [N]

Slack shows users an error when the ack takes over 3 s; the lazy listener answering each question keeps running
against a fake Slack Web API on 127.0.0.1 (the same fake the tests use), with the real model and Milvus Lite.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from urllib.parse import urlencode

import aiohttp
import numpy as np
from slack_sdk.signature import SignatureVerifier

from benchmarks.common import ROOT, save
from bot.adapters.slack.app import SlackAdapter
from bot.adapters.slack.serve import EVENTS_PATH, start_http
from bot.core import BotCore
from bot.feedback import FeedbackStore
from bot.settings import get_settings
from bot.wiring import open_service, quiet_third_party_warnings
from ingest.discover import discover
from tests.fakes.slack import BOT_TOKEN, TEAM, FakeSlack

SECRET = "bench-secret"


async def main(n: int) -> None:
    quiet_third_party_warnings()
    fake = await FakeSlack().start()
    with tempfile.TemporaryDirectory() as tmp:
        settings = get_settings(milvus_uri=f"{tmp}/bench.db", registry_url=f"sqlite:///{tmp}/registry.sqlite3",
                                llm="extractive", slack_bot_token=BOT_TOKEN, slack_signing_secret=SECRET,
                                slack_api_url=f"{fake.url}/api/", slack_app_token=None)
        service = await open_service(settings)
        await service.ingest(discover([ROOT / "examples" / "docs"])[0], TEAM)
        feedback = FeedbackStore(f"sqlite:///{tmp}/feedback.sqlite3")
        runner, port = await start_http(SlackAdapter(BotCore(service), settings, feedback), 0, "127.0.0.1")
        url = f"http://127.0.0.1:{port}{EVENTS_PATH}"
        latencies = []
        async with aiohttp.ClientSession() as http:
            for i in range(n):
                body = urlencode({"team_id": TEAM, "channel_id": "C1", "user_id": "U1", "command": "/ask",
                                  "text": f"question {i}: when does Kestrel v2 ship?", "api_app_id": "A1",
                                  "response_url": f"{fake.url}/commands/{TEAM}/{i}/x", "trigger_id": "1"})
                stamp = str(int(time.time()))
                headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": stamp,
                           "X-Slack-Signature": SignatureVerifier(SECRET).generate_signature(timestamp=stamp,
                                                                                            body=body)}
                started = time.perf_counter()
                async with http.post(url, data=body, headers=headers) as response:
                    await response.read()
                    assert response.status == 200
                latencies.append((time.perf_counter() - started) * 1000)
                await asyncio.sleep(0.05)  # a steady stream of commands while earlier answers are being written
        while sum(1 for m in fake.methods() if m == "chat.update") < n:
            await asyncio.sleep(0.1)
        await runner.cleanup()
        feedback.close()
        await service.close()
    await fake.stop()
    result = {"requests": n, "ack_ms": {"p50": round(statistics.median(latencies), 2),
                                        "p99": round(float(np.percentile(latencies, 99)), 2),
                                        "max": round(max(latencies), 2)},
              "answers_posted": n}
    print(result)
    print(f"written to {save('slack-ack-latency', result)}")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 200))
