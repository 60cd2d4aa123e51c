"""A multilingual embedding model as a setting: E5's "query: " / "passage: " prefixes reach the model on every path
(ingestion, questions, extractive ranking), settings override them, and a model that reads Korean has its scores
trusted for Korean questions, where the English default's are not.

The real intfloat/multilingual-e5-small cannot be downloaded here, so a model is built locally: a two-layer BERT
with random weights and a WordPiece vocabulary trained on a few Korean and English sentences, saved as a
sentence-transformers folder under the real model's name. Its vectors mean nothing; what is tested is what reaches
it and what bitrag does with a multilingual model, through the runtimes a user would get (torch, ONNX int8)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from bot.settings import Settings
from bot.wiring import open_service
from ingest.discover import discover
from rag.embed import create_local_embedder, model_prefixes

CORPUS = ["연차 휴가는 매년 25일이며 다음 해로 5일까지 이월할 수 있습니다.",
          "비밀번호는 최소 14자 이상이어야 합니다.", "재택근무는 일주일에 이틀까지 가능합니다.",
          "Every employee gets 25 days of paid vacation.", "Passwords must be at least 14 characters long.",
          "query: passage: What is the policy? 휴가 정책은 무엇인가요?"]


@pytest.fixture(scope="module")
def e5_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random model in a folder named like the real one (the E5 prefix rule goes by the name)."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    from tokenizers import Tokenizer
    from tokenizers.models import WordPiece
    from tokenizers.normalizers import BertNormalizer
    from tokenizers.pre_tokenizers import BertPreTokenizer
    from tokenizers.processors import TemplateProcessing
    from tokenizers.trainers import WordPieceTrainer
    from transformers import BertConfig, BertModel, BertTokenizerFast

    base = tmp_path_factory.mktemp("models")
    tokenizer = Tokenizer(WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = BertPreTokenizer()
    tokenizer.train_from_iterator(CORPUS * 5, WordPieceTrainer(
        vocab_size=400, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]))
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]",
                                                  special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    hf = BertTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                           sep_token="[SEP]", mask_token="[MASK]")
    torch.manual_seed(0)
    bert = BertModel(BertConfig(vocab_size=tokenizer.get_vocab_size(), hidden_size=32, num_hidden_layers=2,
                                num_attention_heads=2, intermediate_size=64, max_position_embeddings=256))
    raw = base / "raw"
    bert.save_pretrained(raw)
    hf.save_pretrained(raw)
    transformer = Transformer(str(raw), max_seq_length=256)
    pooling = Pooling(transformer.get_embedding_dimension(), pooling_mode="mean")
    folder = base / "multilingual-e5-small"
    SentenceTransformer(modules=[transformer, pooling], device="cpu").save(str(folder))
    return folder


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_the_model_family_sets_the_prefixes_and_settings_win(e5_folder: Path,
                                                             make_settings: Callable[..., Settings]) -> None:
    assert model_prefixes("intfloat/multilingual-e5-small") == ("query: ", "passage: ")
    assert model_prefixes("intfloat/e5-base-v2") == ("query: ", "passage: ")
    assert model_prefixes("all-MiniLM-L6-v2") == ("", "")  # the control: most models read texts as they are
    assert model_prefixes("intfloat/multilingual-e5-large-instruct") == ("", "")  # takes an instruction instead
    (e5_folder.parent / "prompted").mkdir(exist_ok=True)
    (e5_folder.parent / "prompted" / "config_sentence_transformers.json").write_text(
        '{"prompts": {"query": "Represent this question: ", "document": ""}}')
    assert model_prefixes("some-model", e5_folder.parent / "prompted") == ("Represent this question: ", "")
    embedder = create_local_embedder(make_settings(embed_model=str(e5_folder), embed_runtime="torch",
                                                   embed_query_prefix="", embed_passage_prefix="doc: "))
    assert (embedder.query_prefix, embedder.passage_prefix) == ("", "doc: ")
    assert embedder.encoder_id.endswith("||doc: ")  # cached embeddings are keyed by the prefixes too


@pytest.mark.parametrize("runtime", ["torch", "onnx-int8"])
async def test_prefixes_reach_the_model_and_korean_scores_are_trusted(
        e5_folder: Path, make_settings: Callable[..., Settings], tmp_path: Path, runtime: str) -> None:
    from sentence_transformers import SentenceTransformer

    settings = make_settings(embed_model=str(e5_folder), embed_runtime=runtime,
                             embed_cache_dir=str(tmp_path / "encoders"))
    service = await open_service(settings)
    try:
        embedder = service.embedder
        assert (embedder.query_prefix, embedder.passage_prefix) == ("query: ", "passage: ")
        reference = SentenceTransformer(str(e5_folder), device="cpu")
        tolerance = 0.999 if runtime == "torch" else 0.98  # int8 weights move vectors a little

        folder = tmp_path / "docs"
        folder.mkdir()
        (folder / "휴가.md").write_text("# 휴가\n\n" + CORPUS[0] + "\n")
        files, _ = discover([folder])
        assert not (await service.ingest(files, "acme")).failed
        document = (await asyncio.to_thread(service.registry.documents, ["acme"]))[0]
        stored = (await asyncio.to_thread(service.registry.vectors, document))[0].astype(np.float32)
        chunk, = (await asyncio.to_thread(service.parser.parse, files[0])).chunks  # what ingestion embedded
        marked, bare = reference.encode(["passage: " + chunk.embed_text, chunk.embed_text])
        assert cosine(stored, marked) > tolerance and cosine(stored, marked) > cosine(stored, bare) + 0.001

        question = "연차 휴가는 며칠인가요?"
        asked = await service.queries.embed(question, {})
        marked, bare = reference.encode(["query: " + question, question])
        assert cosine(asked, marked) > tolerance and cosine(asked, marked) > cosine(asked, bare) + 0.001

        # A model that reads Korean is trusted for Korean questions: ranked by meaning and words, fused as for English
        # (the English default ranks them by keywords alone: weight 0).
        assert service.retriever.weight_for(question) == service.settings.hybrid_dense_weight > 0
        answer = await service.ask(question, "acme")
        assert answer.sources and answer.sources[0].source == "휴가.md"
    finally:
        await service.close()
    default = await open_service(make_settings(milvus_uri=str(tmp_path / "default.db"),
                                               registry_url=f"sqlite:///{tmp_path / 'default.sqlite3'}"))
    try:
        assert default.retriever.weight_for(question) == 0.0  # the control
        assert (default.embedder.query_prefix, default.embedder.passage_prefix) == ("", "")
    finally:
        await default.close()
