"""Which words of an English question name a topic that everyday English seldom talks about.

The "is this answered here?" check (`abstain.py`) must tell a question about a topic the documents never mention
("How many days of *bereavement* leave do I get?", "Does Aurora Labs offer a *pension* plan?") from one that only
words a real passage differently ("Who *handles* software subscriptions?", "What do I need to *attach* to an expense
claim?"). Both leave a word out of the closest passages while sharing most others with them. What differs is the
word: a topic is a noun people seldom use (bereavement, pension, interns, salary, airline, refunds); phrasing is
everyday English or a verb (often, kept, handle, attach, depend). So a word is a *topic word* when
- it is uncommon: its most common form (the word or a lemma, by `lemminflect`: "handles" counts as "handle") scores
  under `EVERYDAY_ZIPF` (4.5) in `wordfreq`'s English list (Robyn Speer et al.: subtitles, Wikipedia, books, news and
  web text; code Apache-2.0, data CC-BY-SA 4.0). Zipf is log10 of uses per billion words: 7 for "the", 3 for
  "bereavement";
- and it can be a noun, or the dictionary does not know it (jargon, a product name written in lower case).

Measured (`benchmarks/abstention.py`, README "Knowing when not to answer"): the threshold was read off the words
the closest passages lack in the tune, test and first fresh sets: those of answerable questions score 4.57 and up
(by lemma: "handles", "misses" score 3.85 as written), most of unanswerable ones' topics 2.96-4.43 (a few common:
"weekends" 4.93). 4.5 and 4.6 refuse the same questions there, 4.4 one unanswerable question fewer, 4.75 one answerable
question more. Without the noun condition, a set written afterwards (fresh_2) lost 3 of 31 answerable questions to
verbs and adverbs ("attach", "depend"); with it 1 ("a 1,500 EUR *monitor*": a rule about any purchase does not name
the monitor), and 4 fewer unanswerable questions are refused ("complained", "expand" are verbs). On the set written
after that change (fresh_3) both forms refuse the same questions.

Everyday English is English: a Spanish or German question's everyday words ("tengo", "bekomme") are rare in English
and would all be required. A question is checked only when its words (names, codes, and words no list knows left out)
are as common in English as in each of German, Spanish, French, Italian, Dutch and Portuguese, and common enough (mean
Zipf ≥ `LANGUAGE_ZIPF`): all 250 English questions of `benchmarks/data/abstention-questions.json` pass, and none of 23
questions in those languages and in Polish, Swedish, Turkish, Indonesian, Hungarian and Czech
(`tests/test_abstention.py` keeps some). Not covered: a question that is not recognised as English is not checked
this way (questions in other languages keep the older checks only). The word lists and the lemma dictionary take
~60 MB of RAM, loaded at the first question in a Latin script (~0.2 s, in a worker thread).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from functools import cache, lru_cache

EVERYDAY_ZIPF = 4.5
LANGUAGE_ZIPF = 4.0
COMPARED = ("de", "es", "fr", "it", "nl", "pt")
LANGUAGES = ("en", *COMPARED)
_LOADING = threading.Lock()


def _zipf(word: str, language: str) -> float:
    """log10 of a word's uses per billion words in `language` (0 when its list does not have it): `wordfreq`'s
    `zipf_frequency` for one lowercase token, without its tokenizer (a dictionary read, not ~30 µs a call)."""
    frequency = _frequencies(language).get(word, 0.0)
    return round(math.log10(frequency * 1e9), 2) if frequency else 0.0


@cache
def _frequencies(language: str) -> dict[str, float]:
    from wordfreq import get_frequency_dict

    with _LOADING:  # each list is read once, whichever thread asks first
        return get_frequency_dict(language, wordlist="small")


@lru_cache(maxsize=16384)
def lemmas(word: str) -> dict[str, tuple[str, ...]]:
    """The lemmas of a lowercase English `word` by part of speech ({} for a word the dictionary does not know)."""
    from lemminflect import getAllLemmas

    with _LOADING:
        return dict(getAllLemmas(word))


def commonness(word: str) -> float:
    """The Zipf frequency in English of the most common of a lowercase `word` and its lemmas ("handles": handle)."""
    forms = {word, *(lemma for forms_of_kind in lemmas(word).values() for lemma in forms_of_kind)}
    return max(_zipf(form, "en") for form in forms)


@lru_cache(maxsize=16384)
def topic(word: str) -> bool:
    """Whether a lowercase English `word` can name a topic: it is uncommon (`commonness` under `EVERYDAY_ZIPF`) and can
    be a noun, or is unknown to the dictionary (jargon, a product: "kubernetes")."""
    return commonness(word) < EVERYDAY_ZIPF and can_be_noun(word)


def can_be_noun(word: str) -> bool:
    """Whether a lowercase English `word` can be a noun, or the dictionary does not know it (jargon, a product)."""
    kinds = lemmas(word)
    return not kinds or "NOUN" in kinds or "PROPN" in kinds


def english(words: Sequence[str]) -> bool:
    """Whether lowercase `words` (a question's, without its names) read as English rather than a neighbour language,
    judged by the words at least one of the languages' lists knows."""
    return language(words) == "en"


def language(words: Sequence[str]) -> str | None:
    """Which of `LANGUAGES` lowercase `words` read as: the one whose list finds them most common (English at a tie),
    when their mean Zipf there reaches `LANGUAGE_ZIPF`; None when no list knows them well enough."""
    zipf = {w: {language: _zipf(w, language) for language in LANGUAGES} for w in set(words)}
    known = [w for w in words if any(zipf[w].values())]  # jargon in no list ("kubernetes") says nothing
    if not known:
        return None
    mean = {language: sum(zipf[w][language] for w in known) / len(known) for language in LANGUAGES}
    best = max(LANGUAGES, key=lambda language: mean[language])  # the first of equals: English
    return best if mean[best] >= LANGUAGE_ZIPF else None
