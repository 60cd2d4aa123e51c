"""`RagService`: the one async API every adapter uses — ask, ingest, sources, forget.

It composes the embedder, the Milvus store, the document registry, the retriever and the generator, and owns the
per-document ingestion protocol (pending → inserted → ready; see `registry.py`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from rag.abstain import off_topic, refers_back, unmentioned
from rag.analyze import model_covers, script_of
from rag.citations import renumber
from rag.embed import Embedder, as_passages, create_embedder
from rag.errors import BitragError, LLMError, NotAllowedError
from rag.extractive import LLM_FAILED, extract
from rag.generate import ChatGenerator, create_generator
from rag.keywords import AnalyzedChunks, analyze_chunks
from rag.models import (
    Answer,
    AnswerMode,
    AuditEntry,
    Chunk,
    DocumentInfo,
    DocumentParser,
    FileResult,
    IndexStats,
    IngestReport,
    Origin,
    Progress,
    Source,
    SourceFile,
    Turn,
    last_turns,
)
from rag.prompt import build_messages
from rag.quantize import binarize
from rag.queries import QueryPipeline
from rag.registry import DocumentRow, Registry
from rag.reindex import ReindexProgress, finish_interrupted, index_keywords, missing_note, reindex
from rag.replies import language_of, not_mentioned, replies_in
from rag.retrieve import Hit, Retriever
from rag.settings import RagSettings
from rag.store import ChunkRecord, MilvusStore
from rag.tenants import Scope, scope_tenants, validate_tenant

log = logging.getLogger(__name__)

INGEST_READ_AHEAD = 4  # batches of chunks (EMBED_BATCH_SIZE) read and split ahead of the embedder
# The share of the time background keyword indexing may take (`index_missing_keywords`): questions share the CPU (and
# the GIL) with its analysis. Measured (`benchmarks/upgrade.py`, 100k chunks in documents of 50, questions retrieved
# back to back): unpaced, retrieval p50 20 → 175 ms while it ran (461 chunks/s; questions then also waited for its
# writes, which they no longer do: `rag/database.py`); at half the time, 44 ms p50 (171 p99) while it runs at 241
# chunks/s — 100k chunks in ~7 minutes, a one-time cost of an upgrade
BACKGROUND_SHARE = 0.5
LOCAL = Origin("local", "local")  # changes made without a recorded origin (library callers, benchmarks)

# A policy decision supplied by the caller (the bot core): may this document be replaced / changed?
MayReplace = Callable[[DocumentInfo], bool]
Authorize = Callable[[DocumentInfo], None]  # raises NotAllowedError with who may


@dataclass
class AnswerDelta:
    """A piece of streamed answer text (raw: citation numbers are final only in `AnswerDone`). `available` is how
    many sources were retrieved, so that a consumer can renumber citations as they appear (`rag.citations`)."""

    text: str
    available: int = 0


@dataclass
class AnswerDone:
    answer: Answer


AnswerEvent = AnswerDelta | AnswerDone


def _ms(since: float) -> float:
    return (time.perf_counter() - since) * 1000


class RagService:
    def __init__(self, settings: RagSettings, embedder: Embedder, store: MilvusStore, registry: Registry,
                 generator: ChatGenerator | None, parser: DocumentParser) -> None:
        self.settings = settings
        self.embedder = embedder
        self.store = store
        self.registry = registry
        self.generator = generator
        self.parser = parser
        self.retriever = Retriever(store, registry, settings.rescore, settings.oversample,
                                   settings.hybrid_dense_weight if settings.retrieval == "hybrid" else 1.0,
                                   settings.keyword_index)
        self.queries = QueryPipeline(embedder, self.retriever, settings)
        self._writing = asyncio.Semaphore(settings.llm_concurrency)  # answers being written at once (LLM_CONCURRENCY)
        self.owns_embedder = False  # set when `open()` created it; a shared embedder is closed by its owner

    @classmethod
    async def open(cls, settings: RagSettings, parser: DocumentParser,
                   embedder: Embedder | None = None) -> RagService:
        """Build every component from settings and finish any ingestion a previous process left half-done."""
        owned = embedder is None
        embedder = embedder or await create_embedder(settings)
        registry = await asyncio.to_thread(Registry, settings.registry_url)
        store = MilvusStore(settings)
        try:
            await store.open(embedder.model_id, embedder.dim)
            await finish_interrupted(store, registry)  # before anything reads or writes the collection
            service = cls(settings, embedder, store, registry, create_generator(settings), parser)
        except BaseException:
            registry.close()
            await store.close()
            if owned:
                await embedder.aclose()
            raise
        service.owns_embedder = owned
        await service.recover()
        ready = await asyncio.to_thread(registry.ready_chunk_count)
        if ready and (missing := missing_note(store.collection, await store.count(), ready)):
            log.warning("The %s", missing)
        if service.retriever.indexes_every_document and (unindexed := await asyncio.to_thread(registry.unindexed)):
            log.warning("%s", _unindexed(len(unindexed)))
        if store.text_to_move:
            log.warning("Collection %s keeps every chunk's text in Milvus's memory (made before the registry held "
                        "it): `bitrag reindex` moves it to the registry, on disk (~1.6 KB of RAM per chunk at 1M "
                        "chunks), without re-embedding", store.collection)
        unknown = await asyncio.to_thread(registry.unknown_origins)
        if unknown:
            log.warning("%d document(s) were added before bitrag recorded who added them and where: they stay "
                        "readable workspace-wide as before and are listed as \"origin unknown\"; an admin can review "
                        "them with `bitrag sources` and forget or re-add them", unknown)
        return service

    async def close(self) -> None:
        await self.queries.aclose()
        if self.generator is not None:
            await self.generator.aclose()
        await self.store.close()
        await asyncio.to_thread(self.registry.close)
        if self.owns_embedder:
            await self.embedder.aclose()

    async def recover(self) -> int:
        """Remove the chunks of documents left `pending` or `deleting` (a crash mid-ingest or mid-forget)."""
        abandoned = await asyncio.to_thread(self.registry.abandoned)
        for document in abandoned:
            log.info("Cleaning up %s document %s (%s)", document.state, document.doc_id[:12], document.source)
            await self._discard(document)
        return len(abandoned)

    # --- asking ----------------------------------------------------------------------------------------------

    async def ask(self, question: str, tenant: Scope, history: Sequence[Turn] = (), top_k: int | None = None) -> Answer:
        """Answer in one piece (the LLM is called without streaming). `tenant` may be several tenants to search."""
        timings: dict[str, float] = {}
        hits, early, language = await self._retrieve(question, tenant, history, top_k, timings)
        if early is not None:
            return early
        raw, mode, warning = await self._generate(question, hits, history, None, timings)
        return self._finish(raw, hits, mode, timings, warning, language)

    async def ask_stream(self, question: str, tenant: Scope, history: Sequence[Turn] = (),
                         top_k: int | None = None) -> AsyncIterator[AnswerEvent]:
        """Yield `AnswerDelta`s as the LLM writes, then one `AnswerDone` with the cleaned, cited answer."""
        timings: dict[str, float] = {}
        hits, early, language = await self._retrieve(question, tenant, history, top_k, timings)
        if early is not None:
            yield AnswerDone(early)
            return
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        task = asyncio.create_task(self._generate(question, hits, history, queue, timings))
        try:
            while (delta := await queue.get()) is not None:
                yield AnswerDelta(delta, len(hits))
            raw, mode, warning = await task
        finally:
            task.cancel()
        yield AnswerDone(self._finish(raw, hits, mode, timings, warning, language))

    async def _retrieve(self, question: str, tenant: Scope, history: Sequence[Turn], top_k: int | None,
                        timings: dict[str, float]) -> tuple[list[Hit], Answer | None, str]:
        """The hits, a refusal when they do not answer the question, and the question's language (rag/replies.py)."""
        tenant = scope_tenants(tenant)
        question = question.strip()
        if not question:
            raise BitragError("Ask a question, for example: what is our vacation policy?")
        # A follow-up ("and a SEV2 page?") is searched together with the previous question; a question that does
        # not lean on it ("what is the capital of Mongolia?") is searched alone, so an earlier turn cannot lend it
        # passages it does not ask about (rag/abstain.py).
        previous = next((t.text for t in reversed(history) if t.role == "user"), "")
        searched = f"{previous}\n{question}" if previous and refers_back(question) else question
        with self.queries.admitted():
            query = await self.queries.embed(searched, timings)
            hits = await self.queries.retrieve(query, tenant, top_k or self.settings.top_k, searched, timings)
        timings["generate"] = 0.0
        if not hits:
            language = await asyncio.to_thread(language_of, question)  # may load the word lists (~0.2 s)
            empty = Answer(replies_in(language).empty, [], timings, self._mode, grounded=False, language=language)
            return hits, empty, language
        language, refusal = await asyncio.to_thread(self._refusal, question, searched, hits)
        if refusal is not None:
            refused = Answer(refusal, _closest(hits), timings, self._mode, grounded=False, language=language)
            return hits, refused, language
        return hits, None, language

    def _refusal(self, question: str, searched: str, hits: list[Hit]) -> tuple[str, str | None]:
        """The question's language (rag/replies.py) and why the hits do not answer it (rag/abstain.py; `searched`:
        with the previous question when it leans on it), in that language, or None. In a worker thread: the first
        Korean question loads Kiwi (~1.2 s), the first English one the word lists (~0.2 s)."""
        language = language_of(question)
        # A score from a model that does not cover the question's script means nothing: the word check decides.
        scored = model_covers(self.embedder.model_id, script_of(searched))
        settings = self.settings
        below = scored and max(hit.score for hit in hits) < settings.min_similarity
        # The names, rare words and asked-for nouns no passage mentions refuse on their own (unless the word checks
        # are off) and say why; found once, then the coverage check runs without them (`off_topic` would look again).
        missing = unmentioned(searched, hits, settings.abstain_check_names, settings.abstain_check_rare_words,
                              settings.abstain_check_asked_for) if (below or settings.abstain_min_coverage > 0) else []
        if not (below or missing or off_topic(searched, hits, settings.abstain_min_coverage,
                                              settings.abstain_trusted_score, scored=scored, check_names=False,
                                              check_rare_words=False, check_asked_for=False)):
            return language, None
        return language, not_mentioned(language, missing) if missing else replies_in(language).not_covered

    @property
    def _mode(self) -> AnswerMode:
        return self.generator.mode if self.generator is not None else "extractive"

    async def _generate(self, question: str, hits: list[Hit], history: Sequence[Turn],
                        queue: asyncio.Queue[str | None] | None,
                        timings: dict[str, float]) -> tuple[str, AnswerMode, str | None]:
        """The raw answer text, the mode that wrote it, and a warning when the LLM failed and extraction stood in.
        At most `LLM_CONCURRENCY` answers are written at once: a burst waits here (counted as `queue`) instead of
        reaching the LLM all together."""
        waiting = time.perf_counter()
        try:
            async with self._writing:
                started = time.perf_counter()
                timings["queue"] = timings.get("queue", 0.0) + (started - waiting) * 1000
                try:
                    return await self._write(question, hits, history, queue)
                finally:
                    timings["generate"] = _ms(started)
        finally:
            if queue is not None:
                queue.put_nowait(None)

    async def _write(self, question: str, hits: list[Hit], history: Sequence[Turn],
                     queue: asyncio.Queue[str | None] | None) -> tuple[str, AnswerMode, str | None]:
        try:
            if self.generator is None:
                return await extract(question, hits, self.embedder), "extractive", None
            messages = build_messages(question, hits, last_turns(history, self.settings.history_turns))
            if queue is None:
                return await self.generator.complete(messages), self.generator.mode, None
            parts = []
            async for delta in self.generator.stream(messages):
                parts.append(delta)
                queue.put_nowait(delta)
            return "".join(parts), self.generator.mode, None
        except LLMError as exc:
            log.warning("LLM failed, answering extractively: %s", exc)
            answer = await extract(question, hits, self.embedder, lead=LLM_FAILED)
            return answer, "extractive", f"{exc} Showing an extractive answer instead."

    def _finish(self, raw: str, hits: list[Hit], mode: AnswerMode, timings: dict[str, float],
                warning: str | None, language: str) -> Answer:
        text, order = renumber(raw, len(hits))
        sources = [_source(n, hits[original - 1]) for n, original in enumerate(order, start=1)]
        if not sources:  # nothing cited (e.g. the model said it does not know): show what was closest
            sources = _closest(hits)
        return Answer(text, sources, timings, mode, grounded=bool(order), warning=warning, language=language)

    # --- ingesting -------------------------------------------------------------------------------------------

    async def ingest(self, files: Sequence[SourceFile], tenant: str, progress: Progress | None = None,
                     origin: Origin | None = None, may_replace: MayReplace | None = None) -> IngestReport:
        """Ingest files; a file that fails is reported with its reason and never stops the rest.

        `origin` is recorded with each document. A file named like a document of `tenant` replaces it only when
        `may_replace(that document)` allows (no predicate: always); otherwise it becomes a separate document under
        the uploader's own key, and its result says so.

        A pipeline of three stages that overlap: files are read and split ahead (`_prepare`), the chunks of several
        small files are embedded in one forward pass (`_embed_files`), and each file is stored and committed on its
        own, in order (`_store`), with the crash-safe protocol of `registry.py`. Results keep the files' order."""
        validate_tenant(tenant)
        results: list[FileResult | None] = [None] * len(files)
        prepared: asyncio.Queue[_Prepared | None] = asyncio.Queue()
        embedded: asyncio.Queue[tuple[_Prepared, np.ndarray] | None] = asyncio.Queue()
        batch = self.settings.embed_batch_size
        budget = _ChunkBudget(INGEST_READ_AHEAD * batch)  # chunks between reading and storing (a file may hold 10k)

        async def read() -> None:
            try:
                for position, file in enumerate(files):
                    try:
                        item = await self._prepare(position, file, tenant, origin, may_replace)
                    except BitragError as exc:  # ParseError, StoreUnavailableError…
                        item = FileResult(file.name, "failed", reason=str(exc))
                    if isinstance(item, FileResult):
                        results[position] = item
                    else:
                        await budget.take(len(item.chunks))
                        prepared.put_nowait(item)
            finally:
                prepared.put_nowait(None)

        async def embed() -> None:
            try:
                ended = False
                while not ended:
                    group: list[_Prepared] = []  # the files ready now, up to one encoder batch of chunks
                    item = await prepared.get()
                    while item is not None:
                        group.append(item)
                        if sum(len(f.chunks) for f in group) >= batch or prepared.empty():
                            break
                        item = prepared.get_nowait()
                    ended = item is None
                    done = await self._embed_files(group, progress, results)
                    if len(done) < len(group):  # the group failed (its results say why): nothing to store
                        await budget.give(sum(len(f.chunks) for f in group))
                    for entry in done:
                        embedded.put_nowait(entry)
            finally:
                embedded.put_nowait(None)

        reading, embedding = asyncio.create_task(read()), asyncio.create_task(embed())
        try:
            while (entry := await embedded.get()) is not None:
                document, vectors = entry
                try:
                    results[document.position] = await self._store(document, vectors, tenant, origin)
                except BitragError as exc:
                    results[document.position] = FileResult(document.file.name, "failed", reason=str(exc))
                await budget.give(len(document.chunks))
            await embedding  # (re-raises what stopped a stage)
            await reading
        finally:
            reading.cancel()
            embedding.cancel()
        return IngestReport(results=[r for r in results if r is not None])

    async def _prepare(self, position: int, file: SourceFile, tenant: str, origin: Origin | None,
                       may_replace: MayReplace | None) -> _Prepared | FileResult:
        """Read and split a file, and decide under which key it goes; a `FileResult` when there is nothing to add."""
        parsed = await asyncio.to_thread(self.parser.parse, file)
        key, note = file.key, None
        previous = await asyncio.to_thread(self.registry.current_version, tenant, key)
        if previous is not None and may_replace is not None and not may_replace(previous.info()):
            # Someone else's document of the same name: never replaced, kept beside it under the uploader's key.
            key = f"{file.key}~{(origin or LOCAL).owner}"
            note = ("a document with this name added by someone else is already here, so yours was added beside "
                    "it; only its owner or an admin can replace it")
        if language := self._uncovered_language([chunk.text for chunk in parsed.chunks]):
            note = "; ".join(filter(None, (note, language)))
        document = _Prepared(position, file, parsed.chunks, parsed.content_hash, key, note, dict(parsed.timings_ms))
        return await self._already_here(document, tenant) or document

    def _uncovered_language(self, texts: Sequence[str]) -> str | None:
        """What to tell the uploader when most of a document is in a script the embedding model does not cover."""
        script = script_of(" ".join(texts)[:20_000])
        if model_covers(self.embedder.model_id, script):
            return None
        language = {"hangul": "Korean", "cjk": "Chinese/Japanese"}.get(script, script)
        return (f"most of it is {language}, which the embedding model ({self.embedder.model_id.split('/')[-1]}) does "
                "not cover: questions in that language find it by its words only (EMBEDDER=openai, "
                "text-embedding-3-small, also matches meaning)")

    async def _already_here(self, document: _Prepared, tenant: str) -> FileResult | None:
        """The result for content this tenant already has (asked again before storing: an earlier file of the
        same run may have added it meanwhile)."""
        existing = await asyncio.to_thread(self.registry.find, tenant, document.doc_id)
        name = document.file.name
        if existing is None:
            return None
        if existing.state != "ready":
            return FileResult(name, "skipped", reason="the same content is being ingested or removed right now; "
                              "try again in a minute", doc_id=document.doc_id)
        if existing.source_key in (document.key, document.file.key):
            return FileResult(name, "unchanged", chunks=existing.chunks, doc_id=document.doc_id)
        return FileResult(name, "skipped", doc_id=document.doc_id,
                          reason=f"the same content is already in the knowledge base as {existing.source}")

    async def _embed_files(self, group: list[_Prepared], progress: Progress | None,
                           results: list[FileResult | None]) -> list[tuple[_Prepared, np.ndarray]]:
        """Embed the chunks of several files in shared forward passes; a failure fails the files of the group."""
        if not group:
            return []
        texts = [chunk.embed_text for document in group for chunk in document.chunks]
        started = time.perf_counter()
        try:
            alone = len(group) == 1  # a big file reports each batch; files sharing passes report when done
            vectors = await self._embed_chunks(group[0].file.name, texts, progress if alone else None)
        except BitragError as exc:
            for document in group:
                results[document.position] = FileResult(document.file.name, "failed", reason=str(exc))
            return []
        share = _ms(started) / max(1, len(texts))  # a file's part of a shared pass, by its chunk count
        embedded, offset = [], 0
        for document in group:
            document.timings["embed"] = share * len(document.chunks)
            embedded.append((document, vectors[offset:offset + len(document.chunks)]))
            offset += len(document.chunks)
            if progress is not None and not alone:
                progress(document.file.name, len(document.chunks), len(document.chunks))
        return embedded

    async def _store(self, prepared: _Prepared, vectors: np.ndarray, tenant: str,
                     origin: Origin | None) -> FileResult:
        """Add one embedded file: pending → inserted → committed (replacing the key's previous version)."""
        if (result := await self._already_here(prepared, tenant)) is not None:
            return result
        file, chunks, doc_id, timings = prepared.file, prepared.chunks, prepared.doc_id, prepared.timings
        started = time.perf_counter()
        previous = await asyncio.to_thread(self.registry.current_version, tenant, prepared.key)
        precise = self.settings.rescore == "precise"
        analyzed = await self._analyzed([chunk.text for chunk in chunks])
        texts = [(chunk.text, {**chunk.meta, "location": chunk.location, "link": file.link}) for chunk in chunks]
        quantizing = time.perf_counter()
        bits = binarize(vectors)
        timings["quantize"] = _ms(quantizing)
        document, ids = await asyncio.to_thread(
            self.registry.begin, tenant, doc_id, file.name, prepared.key, file.link, len(chunks),
            vectors if precise else None, origin, analyzed, texts, bits)
        try:
            records = [ChunkRecord(id=cid, tenant=tenant, bits=bits[i].tobytes(), doc_id=doc_id, source=file.name,
                                   text=text, meta=meta)
                       for i, (cid, (text, meta)) in enumerate(zip(ids, texts, strict=True))]
            await self.store.insert(records)
            retired = await asyncio.to_thread(self.registry.commit, document)
        except BaseException:
            await asyncio.shield(self._discard(document, quiet=True))
            raise
        timings["store"] = _ms(started) - timings["quantize"]  # registry (with float16 copies) + Milvus insert
        for old in retired:
            await self._discard(old, quiet=True)
        await self._audit("replace" if previous else "add", document, origin,
                          f"replaced {previous.doc_id[:12]}" if previous else None)
        return FileResult(file.name, "replaced" if previous else "added", chunks=len(ids), doc_id=doc_id,
                          timings_ms=timings, note=prepared.note)

    async def _embed_chunks(self, name: str, texts: list[str], progress: Progress | None) -> np.ndarray:
        step = self.settings.embed_batch_size  # one batch per call: a question waits for at most one batch
        parts = []
        for start in range(0, len(texts), step):
            parts.append(await self.embedder.embed(as_passages(self.embedder, texts[start:start + step])))
            if progress is not None:
                progress(name, min(start + step, len(texts)), len(texts))
        return np.concatenate(parts) if parts else np.zeros((0, self.embedder.dim), dtype=np.float32)

    async def _discard(self, document: DocumentRow, quiet: bool = False) -> None:
        """Delete a document's chunks from Milvus, then its registry rows. If Milvus is down the rows stay
        (`pending`/`deleting`, so invisible) and `recover()` finishes the job later."""
        try:
            ids = await asyncio.to_thread(self.registry.chunk_ids, document)
            await self.store.delete(ids)
            await asyncio.to_thread(self.registry.remove, document)
        except BitragError:
            if not quiet:
                raise
            log.warning("Could not remove document %s yet; it stays hidden and will be cleaned up on restart",
                        document.doc_id[:12])

    async def reindex(self, progress: ReindexProgress | None = None) -> int:
        """Rebuild the collection with the current schema from the stored chunks (see `reindex.py`)."""
        return await reindex(self.store, self.registry, progress, self.needs_keywords)

    async def index_missing_keywords(self) -> int:
        """Put the ready documents that hybrid retrieval's keyword search cannot find yet (added before the index
        existed, or under RETRIEVAL=dense) into the keyword index, from the chunk text the registry keeps: nothing is
        re-embedded and Milvus is not touched, so a serving bitrag does it in the background at start
        (`bitrag run`), one document per transaction, while it answers, paced to `BACKGROUND_SHARE` of the time.
        Returns how many were indexed; a document forgotten or replaced meanwhile is skipped."""
        if not self.retriever.indexes_every_document:
            return 0  # under RETRIEVAL=dense only documents in a script the model does not cover are indexed
        missing = await asyncio.to_thread(self.registry.unindexed)
        if not missing:
            return 0
        log.info("Indexing %d document(s) for keyword search in the background (no re-embedding)", len(missing))
        started = time.perf_counter()
        indexed = await index_keywords(self.store, self.registry, needs_keywords=self.needs_keywords,
                                       share=BACKGROUND_SHARE)
        log.warning("Keyword index complete: %d document(s) added in %.1f s", indexed, time.perf_counter() - started)
        return indexed

    def needs_keywords(self, texts: Sequence[str]) -> bool:
        """Whether a document goes into the keyword index: always for hybrid retrieval; under RETRIEVAL=dense only
        when some of its text is in a script the embedding model does not cover (its only way to be found).
        Indexing costs ingestion time (`benchmarks/ingest.py`, SciFact files: the store stage's share 4 % → 8 %,
        end-to-end / encoder alone 0.94 → 0.91) and disk (~2–3 KB per chunk, `benchmarks/keywords.py`), so a dense
        English knowledge base does not pay it; switching to hybrid later indexes what is missing
        (`index_missing_keywords`)."""
        if self.retriever.indexes_every_document:
            return True
        return self.retriever.language_fallback and any(
            not model_covers(self.embedder.model_id, script_of(text)) for text in texts)

    async def _analyzed(self, texts: list[str]) -> AnalyzedChunks | None:
        return await asyncio.to_thread(analyze_chunks, texts) if self.needs_keywords(texts) else None

    # --- documents -------------------------------------------------------------------------------------------

    async def sources(self, tenant: Scope) -> list[DocumentInfo]:
        return [row.info() for row in await asyncio.to_thread(self.registry.documents, scope_tenants(tenant))]

    async def stats(self, tenant: Scope) -> IndexStats:
        documents = await self.sources(tenant)
        return IndexStats(documents=len(documents), scope_chunks=sum(d.chunks for d in documents),
                          index_chunks=await self.store.count(), dim=self.embedder.dim, model=self.embedder.model_id,
                          milvus=self.store.description, rescore=self.settings.rescore, answers_by=self._mode,
                          retrieval=await self.retrieval_note(), text_in_milvus=self.store.text_to_move)

    async def retrieval_note(self) -> str:
        """How questions are searched, for status pages: hybrid or dense, and what keyword search covers."""
        if self.settings.keyword_index == "milvus":
            return self.store.keyword_note
        if not self.retriever.hybrid:
            return ("1-bit dense (RETRIEVAL=dense; RETRIEVAL=hybrid adds BM25 keyword search); questions in a "
                    "script the embedding model does not cover are searched by keywords")
        note = ("hybrid: 1-bit dense + BM25 keyword search (registry index, on disk; Korean, Chinese and Japanese "
                "by character pairs)")
        if unindexed := await asyncio.to_thread(self.registry.unindexed):
            note += f"; {_unindexed(len(unindexed))}"
        return note

    async def forget(self, tenant: Scope, ref: str, actor: Origin | None = None,
                     authorize: Authorize | None = None) -> DocumentInfo:
        """Remove a document of the scope (by id, id prefix or file name); it disappears from answers at once.
        `authorize` (the caller's policy) raises `NotAllowedError` when `actor` may not."""
        document = await asyncio.to_thread(self.registry.resolve, scope_tenants(tenant), ref)
        if authorize is not None:
            authorize(document.info())
        await asyncio.to_thread(self.registry.mark_deleting, document)
        await self._discard(document)
        await self._audit("forget", document, actor)
        return document.info()

    async def share(self, tenant: Scope, ref: str, audience: str, actor: Origin | None = None,
                    authorize: Authorize | None = None) -> DocumentInfo:
        """Move a document of the scope to another audience (tenant key), e.g. workspace-wide. Its origin is then
        recorded as "shared": a deliberate widening, which `narrow` never undoes."""
        validate_tenant(audience)
        old = await asyncio.to_thread(self.registry.resolve, scope_tenants(tenant), ref)
        if authorize is not None:
            authorize(old.info())
        if old.tenant == audience:
            raise BitragError(f"{old.source} is already readable there.")
        clash = await self._clash(old, audience)
        if clash is not None:
            raise NotAllowedError(f"{clash.source} ({clash.doc_id[:12]}) is already readable there: forget one of "
                                  "the two first, so that nothing is replaced by accident.")
        origin = replace(old.origin, kind="shared") if old.origin else None
        document = await self._move(old, audience, origin)
        await self._audit("share", document, actor, f"from {old.tenant}")
        return document.info()

    async def narrow(self, space: str, platform: str, conversation: str, audience: str) -> list[str]:
        """The documents shared in a public `conversation` of `space` (readable by the whole space because of it)
        move to `audience`, that conversation's own, because it is no longer public; returns their names. Where
        the narrower audience already holds the same document, the wide copy is removed."""
        validate_tenant(space)
        validate_tenant(audience)
        moved = []
        for old in await asyncio.to_thread(self.registry.shared_in, space, platform, conversation):
            actor = Origin("bitrag", platform, conversation, "narrow")
            if await self._clash(old, audience) is None:
                await self._audit("narrow", await self._move(old, audience, old.origin), actor, f"from {old.tenant}")
            else:
                await asyncio.to_thread(self.registry.mark_deleting, old)
                await self._discard(old)
                await self._audit("forget", old, actor, f"narrowing: {audience} already holds it")
            moved.append(old.source)
        return moved

    async def public_origins(self, platform: str) -> list[tuple[str, str]]:
        """(space, conversation) of the public conversations whose documents serve a whole space."""
        return await asyncio.to_thread(self.registry.public_places, platform)

    async def _clash(self, document: DocumentRow, audience: str) -> DocumentRow | None:
        return (await asyncio.to_thread(self.registry.current_version, audience, document.source_key)
                or await asyncio.to_thread(self.registry.find, audience, document.doc_id))

    async def _move(self, old: DocumentRow, audience: str, origin: Origin | None) -> DocumentRow:
        """Done like an ingestion, so a crash leaves either the old or the new document, never both or neither: the
        chunks are copied (texts, bits and float16 copies, no re-embedding) under new ids into a `pending`
        document of `audience`, committed, and only then is the old one removed."""
        chunks = await asyncio.to_thread(self.registry.texts, old)  # in id order, like `vectors`
        records = {r.id: r for r in await self.store.get_records([cid for cid, _ in chunks])}
        present = [i for i, (cid, _) in enumerate(chunks) if cid in records]
        # Text from the registry; from Milvus for chunks recorded before the registry held it (until a reindex).
        kept = [(records[cid], text or (records[cid].text, records[cid].meta)) for cid, text in
                (chunks[i] for i in present)]
        vectors = await asyncio.to_thread(self.registry.vectors, old)
        vectors = vectors[present] if vectors is not None else None
        analyzed = await self._analyzed([text for _, (text, _) in kept])
        document, ids = await asyncio.to_thread(
            self.registry.begin, audience, old.doc_id, old.source, old.source_key, old.link, len(kept), vectors,
            origin, analyzed, [text for _, text in kept],
            np.frombuffer(b"".join(r.bits for r, _ in kept), dtype=np.uint8).reshape(len(kept), -1))
        try:
            await self.store.insert([ChunkRecord(id=cid, tenant=audience, bits=r.bits, doc_id=old.doc_id,
                                                 source=old.source, text=text, meta=meta)
                                     for cid, (r, (text, meta)) in zip(ids, kept, strict=True)])
            await asyncio.to_thread(self.registry.commit, document)
        except BaseException:
            await asyncio.shield(self._discard(document, quiet=True))
            raise
        await asyncio.to_thread(self.registry.mark_deleting, old)
        await self._discard(old, quiet=True)
        return document

    async def audit(self, space: str | None = None, limit: int = 200) -> list[AuditEntry]:
        if space is not None:
            validate_tenant(space)
        return await asyncio.to_thread(self.registry.audit, space, limit)

    async def _audit(self, action: str, document: DocumentRow, actor: Origin | None, detail: str | None = None) -> None:
        actor = actor or LOCAL
        await asyncio.to_thread(self.registry.log, AuditEntry(
            at=time.time(), actor=actor.owner, platform=actor.platform, action=action, audience=document.tenant,
            doc_id=document.doc_id, source=document.source, place=actor.conversation, detail=detail))


@dataclass
class _Prepared:
    """A file read and split, waiting to be embedded and stored (`position`: its place in the ingest call)."""

    position: int
    file: SourceFile
    chunks: list[Chunk]
    doc_id: str
    key: str
    note: str | None
    timings: dict[str, float]


class _ChunkBudget:
    """How many chunks may be between reading and storing at once: reading waits for room."""

    def __init__(self, limit: int) -> None:
        self._limit, self._used = limit, 0
        self._room = asyncio.Condition()

    def _has_room(self) -> bool:
        return self._used < self._limit

    async def take(self, chunks: int) -> None:
        async with self._room:
            await self._room.wait_for(self._has_room)
            self._used += chunks

    async def give(self, chunks: int) -> None:
        async with self._room:
            self._used -= chunks
            self._room.notify_all()


def _unindexed(count: int) -> str:
    return (f"{count} document(s) are not in the keyword index yet (added before it existed, or under "
            "RETRIEVAL=dense): hybrid retrieval's keyword search cannot find them until a running bitrag has indexed "
            "them in the background, or `bitrag reindex` has (no re-embedding either way)")


def _source(n: int, hit: Hit) -> Source:
    return Source(n=n, source=hit.source, doc_id=hit.doc_id, location=hit.location, score=hit.score, text=hit.text,
                  link=hit.link)


def _closest(hits: list[Hit]) -> list[Source]:
    """The sources shown when nothing is cited: the three closest hits, for the asker to judge."""
    return [_source(n, hit) for n, hit in enumerate(hits[:3], start=1)]
