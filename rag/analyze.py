"""Words for keyword search and for the "is this question answered here?" check, in every script a team writes.

A keyword index is only as good as its idea of a word. Splitting on spaces works for English (after stemming:
"policies" finds "policy") but not for Korean, whose space-separated units (eojeol) carry particles and endings:
"휴가는", "휴가를", "휴가가" are one noun, 휴가, three times. So text is analyzed per script:

- **Hangul** is indexed as overlapping character bigrams of each eojeol (휴가는 → 휴가, 가는), and checked by Kiwi
  (`kiwipiepy`, a Korean morphological analyzer) where the question's *content words* matter: the "is this answered
  here?" check (`abstain.coverage`, mode "strict": nouns, verb and adjective stems, numbers and foreign words;
  no particles, endings, dependent nouns, light verbs or question words). Both were measured for both jobs on this
  project's Korean set (`benchmarks/korean.py`, benchmarks/README.md "Korean"): as the index, bigrams ranked as well
  as morphemes (keyword-only NDCG@10 0.958 vs 0.935) and chose the answering sentence better (first quoted sentence
  right 79 % vs 62.5 %: particles and compounds such as 숙박비 / 호텔비 still share pieces); as the check, morphemes
  kept answers that bigrams refused (answerable refused 21 % vs 71 %: a bigram of a particle is a "word" the passage
  lacks). Kiwi loads its model (~1.2 s, ~100 MB on disk) the first time a Korean question is checked, so an
  English-only team never pays for it, and ingestion never does.
- **Chinese and Japanese** (Han, Hiragana, Katakana), written without spaces, become overlapping character bigrams
  (a lone character stays a unigram): no dictionary, and the usual baseline for CJK keyword search.
- **Everything else** (Latin, Cyrillic, Greek, …): words of letters and digits, lowercased; English function words
  dropped and English (Porter) stemming applied. Other languages in these scripts get whole lowercased words
  (stemming English rules leave most of their words alone or cut a suffix consistently on both sides).

The same function analyzes a chunk when it is stored and a question when it is asked, so both sides agree.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from functools import lru_cache
from typing import Any, Literal

WORD = re.compile(r"[^\W_]+", re.UNICODE)
# English function words and question words: they say nothing about what is asked.
FUNCTION_WORDS = frozenset("""
    a about above after again against all am an and any are as at be because been before being below between both
    but by can could did do does doing down during each few for from further had has have having he her here hers
    herself him himself his how i if in into is it its itself just me might more most must my myself no nor not now
    of off on once only or other our ours ourselves out over own same shall she should so some such than that the
    their theirs them themselves then there these they this those through to too under until up very was we were what
    when where which while who whom whose why will with would you your yours yourself yourselves
    much many get gets got please tell know anyone someone something anything ok also may
""".split())
_NLTK = threading.Lock()


def import_nltk() -> None:
    """Import nltk once, whole, under one lock: every thread that may be first to use it calls this (stemming here,
    llama-index's sentence splitter in ingestion). Two threads importing parts of nltk at once fail in the import
    system — seen: `_DeadlockError` on nltk.stem.porter and "partially initialized module 'nltk.data'" when the
    first question met the first upload. Lazy, because the import takes ~1.2 s that listing documents never needs."""
    with _NLTK:
        import nltk  # noqa: F401


@lru_cache(maxsize=1)
def _porter() -> Any:
    import_nltk()
    from nltk.stem.porter import PorterStemmer  # pure Python, no data files

    return PorterStemmer()


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """The English (Porter) stem of a lowercased word."""
    return str(_porter().stem(word))


# How Korean is cut for the keyword index: Kiwi's morphemes, character bigrams of each word, or both. "strict" is
# for the "is this question answered here?" check (`abstain.coverage`): content morphemes only.
KoreanMode = Literal["morphemes", "bigrams", "both", "strict"]
INDEX_KOREAN: KoreanMode = "bigrams"
MAX_TERM_CHARS = 200  # a longer "word" (a hash, a base64 blob) is cut, the same way in chunks and in questions

HANGUL = "\u1100-\u11ff\u3130-\u318f\ua960-\ua97f\uac00-\ud7af\ud7b0-\ud7ff"  # character ranges, for a [class]
KANA = "\u3040-\u30ff\u31f0-\u31ff"
HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_HANGUL, _CJK = HANGUL, KANA + HAN
SPACED_WORD = re.compile(rf"[^\W_{_HANGUL}{_CJK}]+", re.UNICODE)  # a word of a space-separated script, case kept
_RUNS = re.compile(rf"(?P<hangul>[{_HANGUL}]+)|(?P<cjk>[{_CJK}]+)|(?P<word>[^\W_{_HANGUL}{_CJK}]+)", re.UNICODE)
# Kiwi part-of-speech tags that carry meaning: nouns, numerals, pronouns, verb/adjective stems, roots, adverbs,
# foreign words, Chinese characters and numbers (https://github.com/bab2min/Kiwi, "품사 태그"); particles, endings
# and punctuation are left out. Strict (the answered-here check) also leaves out dependent nouns (NNB: 것, 수, 데, and
# counters such as 년, 일, 시 after a number), one-syllable verb and adjective stems (하, 되, 있, 주, 사: light verbs
# far more often than the point of a sentence) and question words.
_KEPT_TAGS = ("NNG", "NNP", "NNB", "NR", "NP", "VV", "VA", "XR", "MAG", "SL", "SH", "SN", "W_")
_KOREAN_STOP = frozenset("것 수 등 및 이 그 저 무엇 어떻 어떤 어디 언제 누구 왜 얼마 몇 하 되 있 없 같 때".split())
_STRICT_STOP = _KOREAN_STOP | frozenset("어느 얼마나 며칠".split())

_kiwi: Any = None
_kiwi_lock = threading.Lock()


def _korean_analyzer() -> Any:
    """The shared Kiwi instance, created on first use (its model takes ~1.2 s to load). Kiwi's `tokenize` is
    called under `_kiwi_lock` too: one instance, shared by the worker threads that ingest and answer."""
    global _kiwi
    if _kiwi is None:
        from kiwipiepy import Kiwi

        _kiwi = Kiwi(num_workers=-1)  # -1: no worker threads of its own (the caller is already a worker thread)
    return _kiwi


def terms(text: str, korean: KoreanMode = INDEX_KOREAN) -> list[str]:
    """The searchable terms of `text`, in order, with repeats (term frequency counts them)."""
    return [term[:MAX_TERM_CHARS] for term in _terms(text, korean)]


def _terms(text: str, korean: KoreanMode) -> Iterator[str]:
    hangul: list[str] = []
    for match in _RUNS.finditer(text):
        if match.lastgroup == "hangul":
            hangul.append(match.group())
        elif match.lastgroup == "cjk":
            yield from _bigrams(match.group())
        else:
            word = match.group().lower()
            if len(word) > 1 and word not in FUNCTION_WORDS:
                yield stem(word)
    if hangul:
        if korean != "bigrams":
            yield from _korean_morphemes(" ".join(hangul), strict=korean == "strict")
        if korean in ("bigrams", "both"):
            yield from (b for eojeol in hangul for b in _bigrams(eojeol))


def _bigrams(run: str) -> Iterator[str]:
    if len(run) == 1:
        yield run
    for i in range(len(run) - 1):
        yield run[i:i + 2]


def _korean_morphemes(text: str, strict: bool) -> Iterator[str]:
    with _kiwi_lock:
        tokens = _korean_analyzer().tokenize(text)
    stop = _STRICT_STOP if strict else _KOREAN_STOP
    for token in tokens:
        dropped = strict and (token.tag == "NNB" or (token.tag.startswith(("VV", "VA")) and len(token.form) == 1))
        if token.tag.startswith(_KEPT_TAGS) and not dropped and token.form not in stop:
            form = token.form.lower()
            yield stem(form) if token.tag == "SL" and len(form) > 1 else form


@lru_cache(maxsize=4096)
def question_terms(question: str, korean: KoreanMode = INDEX_KOREAN) -> tuple[str, ...]:
    """The distinct terms of a question, in order (a repeated word counts once when searching)."""
    return tuple(dict.fromkeys(terms(question, korean)))


def script_of(text: str) -> str:
    """The script most of `text`'s letters are written in: "hangul", "cjk" or "other"."""
    counts = {"hangul": 0, "cjk": 0, "other": 0}
    for match in _RUNS.finditer(text):
        kind = match.lastgroup or "word"
        counts["other" if kind == "word" else kind] += len(match.group())
    return max(counts, key=lambda k: counts[k]) if any(counts.values()) else "other"


# Embedding models trained on many languages; any other model is taken to cover Latin-script (and other
# space-separated) text only, as the default all-MiniLM-L6-v2 does (English; Ko-StrategyQA NDCG@10 0.014, MTEB).
MULTILINGUAL_MODELS = re.compile(r"multilingual|\bm3\b|-m3|labse|xlm|text-embedding-3|ada-002|\bqwen|gte-multi",
                                 re.IGNORECASE)


def model_covers(model_id: str, script: str) -> bool:
    """Whether an embedding model's vectors mean something for text in `script` (see `script_of`)."""
    return script == "other" or bool(MULTILINGUAL_MODELS.search(model_id))
