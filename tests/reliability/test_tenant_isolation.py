"""Tenant isolation, property-based: random documents for four tenants on the same topics, then ≥ 1,000 random
questions and scopes (with filter-injection strings in both) — not one result from a tenant outside the scope."""

from __future__ import annotations

import asyncio
import random
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag.errors import BitragError, InvalidTenantError
from rag.models import SourceFile
from rag.quantize import binarize
from rag.service import RagService
from rag.tenants import tenant_filter

TENANTS = ["T0ACME", "1234567890", "dm:U42", "globex.eu"]
TOPICS = ["vacation days", "the on-call rotation", "hotel limits", "the guest Wi-Fi", "password rules",
          "the launch code", "salary bands", "the office address"]
INJECTIONS = ['" or tenant != "', "' or 1=1 --", '") || (tenant like "%', "T0ACME\" || true || \"", "x\\\" or \\\"",
              'tenant in ["globex.eu"]', "or", "||", "&&", "not", '"', "'", "\\", "%", "*", "T0ACME ", " T0ACME",
              "T0ACME\n", "", "🙂", "a" * 129, "../globex.eu", "T0ACME,globex.eu"]
FILTER_LITERAL = re.compile(r'tenant == "[A-Za-z0-9][A-Za-z0-9_.:@-]*"|tenant in \[("[A-Za-z0-9][A-Za-z0-9_.:@-]*"'
                            r'(, )?)+\]')


async def ingest_random_documents(service: RagService, folder: Path) -> dict[str, str]:
    """Five documents per tenant, each about every topic with tenant-specific facts; returns source → tenant."""
    rng = random.Random(2026)
    owner = {}
    for tenant in TENANTS:
        files = []
        for i in range(5):
            name = f"{re.sub(r'[^A-Za-z0-9]', '_', tenant)}-{i}.md"
            lines = [f"# Notes {i}"]
            for topic in rng.sample(TOPICS, 5):
                lines += ["", f"## {topic}", "", f"For {topic} the answer is {rng.randint(1, 10_000)} "
                          f"({' '.join(rng.choices(['alpha', 'beta', 'gamma', 'delta', 'omega'], k=6))})."]
            (folder / name).write_text("\n".join(lines))
            files.append(SourceFile.local(folder / name))
            owner[name] = tenant
        report = await service.ingest(files, tenant)
        assert not report.failed, report.failed
    return owner


async def test_no_query_ever_reads_another_tenant(service: RagService, tmp_path: Path) -> None:
    owner = await ingest_random_documents(service, tmp_path)
    loop = asyncio.get_running_loop()
    tried = {"queries": 0, "refused_scopes": 0, "searched": 0, "cited": 0, "candidates": 0}
    answered_from: set[str] = set()  # the tenants whose documents some in-scope answer did cite

    def run(coroutine):  # hypothesis drives a sync function; the service lives on the test's event loop
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(60)

    question = st.one_of(st.sampled_from(TOPICS).map(lambda t: f"What about {t}?"), st.sampled_from(INJECTIONS),
                         st.text(max_size=80), st.builds(lambda t, i: f"{t} {i}", st.sampled_from(TOPICS),
                                                         st.sampled_from(INJECTIONS)))
    hostile = st.one_of(st.sampled_from(INJECTIONS), st.text(max_size=20))
    tenant = st.one_of(st.sampled_from(TENANTS), hostile)
    scope = st.one_of(st.sampled_from(TENANTS), st.lists(st.sampled_from(TENANTS), min_size=1, max_size=3),
                      tenant, st.lists(tenant, min_size=1, max_size=3))

    @settings(max_examples=1000, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(question=question, scope=scope)
    def check(question: str, scope: str | list[str]) -> None:
        tried["queries"] += 1
        allowed = {scope} if isinstance(scope, str) else set(scope)
        try:
            expression = tenant_filter(scope)
        except InvalidTenantError:
            tried["refused_scopes"] += 1
            assert any(t not in TENANTS and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}", t)
                       for t in allowed)
            return
        assert FILTER_LITERAL.fullmatch(expression), expression  # one literal per tenant, nothing else
        if not question.strip():
            with pytest.raises(BitragError, match="Ask a question"):
                run(service.ask(question, scope))
            return
        answer = run(service.ask(question, scope))
        tried["searched"] += 1
        assert all(owner.get(s.source, "?") in allowed for s in answer.sources), (scope, answer.sources)
        tried["cited"] += bool(answer.sources)
        answered_from.update(owner[s.source] for s in answer.sources)
        vector = run(service.embedder.embed([question or "?"]))
        candidates = run(service.store.search(scope, binarize(vector)[0].tobytes(), 100))  # below the registry
        stored = run(service.store.get_records([c.id for c in candidates]))  # each one's tenant, as Milvus holds it
        assert len(stored) == len(candidates) and all(r.tenant in allowed for r in stored), scope
        tried["candidates"] += bool(candidates)

    await asyncio.to_thread(check)
    assert tried["queries"] >= 1000
    assert tried["refused_scopes"] > 0 and tried["searched"] >= 400, tried
    # The controls: the searches did find things (an empty result proves nothing), and every tenant was answered
    # from when it was in scope.
    assert tried["cited"] >= 300 and tried["candidates"] >= 300, tried
    assert answered_from == set(TENANTS), answered_from
    print(tried)
