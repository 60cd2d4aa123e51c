"""What an English question asks for, so that passages which never mention it are not taken for its answer.

After the name and rare-word checks (`abstain.py`), most unanswerable questions bitrag still answered asked for a
thing in everyday words next to a passage about its neighbour: "What is the *price* of Kestrel v2?" beside its launch
date (0.57, above the trusted score), "Who is the *head* of the platform team?" beside its hiring plan, "How many
*sick* days do I get?" beside the vacation days, "When is the holiday *party*?". English says what it asks for in a
fixed place: the noun phrase after "what/who/when/where is the" ("What is the price of…"; after a possessive: "the
Lisbon office's *phone number*") or after "how many/much" ("How many sick days…"). `asked_for` reads that phrase and
`abstain.unmentioned` requires each of its nouns in one of the passages the answer would come from, like a name.

Some nouns name the *kind* of answer rather than a topic, and a passage that answers rarely uses them: "the launch
*date*" ("ships on September 15"), "the minimum password *length*" ("at least 14 characters"), "the *name* of the
printer" ('called "Magellan"'), "the *command* to restart…" (a code span). For those (`ANSWER_KINDS`) the passages
must hold an answer of that kind instead: a number, an amount of money, a date or time, a name, an e-mail address, a
phone number, a command. Nouns that only shape the question ("the best *way* to…", "the *steps*": `SHAPING`),
adjectives ("yearly") and verbs ("paid") are never required.

Which-questions are not read, nor "what" before a noun: "Which *tool* pages the on-call engineer?", "What new
*features* come with v2?" name the category of their answer, and passages name the instance without it ("PagerDuty
pages the primary", "It adds route replay"). Measured with them (`benchmarks/abstention.py`): 3 more unanswerable
questions of fresh_2 and 1 of fresh_4 refused ("Which *hotel chain*…", "Which *airport*…"), but also 1 answerable
question of the held-out half and 1 of fresh_4; without them, the default, fresh_4 (written before this check was
designed) refuses 59 → 70 % of its unanswerable questions and 6 → 9 % of its answerable ones ("What is the Lisbon
office's *street* address?": the passage writes "Address: Rua da Prata 112"); the sets written earlier, which it was
designed on: README, "Knowing when not to answer".

A yes-or-no question about whether something exists asks for that thing too: after "is/are there (a/any)" ("Is
there a *shower* at the office?") or after "have/offer/provide/include/support (a/any)" in a do-question ("Does the
office have a *kitchen*?"). There the last noun alone is required: the words before it describe the thing as the
asker imagines it, and passages name it their own way ("a daily *food* allowance": "the daily meal allowance").
Measured (`benchmarks/abstention.py`): on fresh_5, written before this was tried, unanswerable questions refused
59 → 67 %, answerable ones unchanged (3 %, 1 of 32); fresh_3 60 → 64 %; no other set moved. Measured and not
adopted (`benchmarks/abstention_variants.py`): every noun of the phrase, as for what-questions (it also refused "Is
there a daily food allowance on trips?" of fresh_4: 9 → 12 % wrong refusals); the last noun alone for what-questions
too (fresh_4's "*street* address" answered, but the tune half 80 → 75 % refused and fresh_3 64 → 60 %); uncommon
verbs required like rare nouns (fresh_2: "*complained*", "*expand*", "*kept*" refused, 62 → 73 %, but so were
"*attach*", "*depend*" and fresh_4's "*log* in": 3 → 10 % and 9 → 12 % of answerable questions refused).

Not covered: a question that asks with a verb ("Who *founded* Aurora Labs?", "How much does it *cost*?") or about
a property ("Is alcohol reimbursed?", "How long are security logs kept?"); questions not recognised as English
(`abstain.unmentioned` decides).
"""

from __future__ import annotations

import re

from rag.analyze import FUNCTION_WORDS, WORD, stem
from rag.everyday import can_be_noun, lemmas

_BE = frozenset({"is", "are", "was", "were"})
_AUXILIARIES = _BE | {"do", "does", "did", "can", "could", "will", "would", "should", "must", "may", "might", "shall",
                      "have", "has", "had"}
_DETERMINERS = frozenset({"the", "a", "an", "my", "our", "your", "their", "this", "that", "these", "those", "any"})
_OFFERING = frozenset({"have", "offer", "provide", "include", "support"})  # "Does the office have a kitchen?"
_KIND_OF = frozenset({"kind", "kinds", "type", "types", "sort", "sorts"})  # "how many kinds of leave": the leave
_POSSESSIVE = "'s"
_PLURALS = frozenset({"people", "children", "men", "women", "staff"})  # plurals without an -s

# Nouns that shape a question, not its topic: never required of a passage.
SHAPING = frozenset("""
    way ways process procedure procedures step steps rule rules policy policies option options thing things reason
    reasons requirement requirements difference purpose status meaning definition example examples summary overview
    list details information info description people persons person times best latest current usual exact correct
    right proper official main typical default recommended next last first
""".split())

_NUMBER = re.compile(r"(?<![^\W\d_])\d")  # a number, not the digit of a code ("v2", "Q3")
_MONEY = re.compile(r"\d[\d,.]*\s*(?:EUR|USD|GBP|CHF|JPY|€|\$|£|euros?|dollars?|pounds?)\b|[€$£]\s*\d", re.IGNORECASE)
_DATE_OR_TIME = re.compile(_NUMBER.pattern + r"|\b(?:january|february|march|april|may|june|july|august|september|"
                           r"october|november|december|monday|tuesday|wednesday|thursday|friday|saturday|sunday|"
                           r"noon|midnight)\b", re.IGNORECASE)  # a number (a day, an hour) or a day's or month's name
_NAME = re.compile(r"(?<!\w)[\"“'`]\w|[\w,)][ \t]+[A-Z]")  # quoted (an apostrophe is no quote: "don't"), or a capital
# inside a sentence (within a line: the line after a heading starts a sentence)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")
_PHONE = re.compile(r"\+?\d[\d ()-]{6,}\d")
_CODE = re.compile(r"`[^`\n]+`|^\s*\$ \S", re.MULTILINE)

# Nouns that name the kind of answer: the passages must hold such an answer, whether or not they use the noun.
ANSWER_KINDS: dict[str, re.Pattern[str]] = {
    **dict.fromkeys("number amount length size count limit minimum maximum total rate percentage duration period "
                    "frequency age".split(), _NUMBER),
    **dict.fromkeys("price cost fee salary wage fare".split(), _MONEY),
    **dict.fromkeys("date time deadline hour year month".split(), _DATE_OR_TIME),
    **dict.fromkeys("name title".split(), _NAME),
    **dict.fromkeys(("email",), _EMAIL),
    **dict.fromkeys(("phone", "telephone"), _PHONE),
    **dict.fromkeys(("command",), _CODE),
}
_KIND_BY_STEM = {stem(word): pattern for word, pattern in ANSWER_KINDS.items()}  # "sizes", "months", "dates"


def asked_for(question: str) -> list[str]:
    """The nouns of what an English question asks for ("What is the price of…": price; "How many sick days…": sick,
    days), without the ones that only shape it (`SHAPING`); of a thing whose existence it asks about, the last noun
    alone ("Is there a daily food allowance…": allowance); [] when the question has no such phrase. The caller decides
    whether the question is English (`abstain.unmentioned`)."""
    nouns, existence = asked_phrase(question)
    return nouns[-1:] if existence else nouns


def asked_phrase(question: str) -> tuple[list[str], bool]:
    """Every noun of the phrase a question asks for (not `SHAPING`), and whether it asks whether the thing exists."""
    words = _tokens(question)
    existence = _existence_at(words)
    phrase = _phrase(words, existence)[0] if existence is not None else _object_phrase(words)
    parts = [part for word in phrase for part in word.split("-") if part not in FUNCTION_WORDS]  # "on-call": call
    return [w for w in parts if len(w) > 1 and w not in SHAPING and can_be_noun(w)], existence is not None


def answer_kind(word: str) -> re.Pattern[str] | None:
    """What an answer must contain when the question asks for `word` ("date": a date or time), or None for a topic."""
    return _KIND_BY_STEM.get(stem(word))


def _tokens(question: str) -> list[str]:
    text = question.lower().replace("’", "'")
    text = re.sub(r"\b(what|who|which|where|when|how)'s\b", r"\1 is", text)
    text = re.sub(r"(\w)'s\b", r"\1 _possessive_ ", text)
    found = re.findall(rf"_possessive_|{WORD.pattern}(?:-{WORD.pattern})*", text)  # "on-call" one word
    return [_POSSESSIVE if w == "_possessive_" else w for w in found]


def _object_phrase(words: list[str]) -> list[str]:
    """The words of the asked-for noun phrase, in order (see the module docstring)."""
    count = len(words)
    start = next((i for i in range(min(count, 4)) if words[i] in ("what", "who", "when", "where")
                  or (words[i] == "how" and i + 1 < count and words[i + 1] in ("many", "much"))), None)
    if start is None:
        return []
    counted = words[start] == "how"  # "How many sick days…"
    at = start + (2 if counted else 1)
    if at >= count:
        return []
    with_be = words[at] in _BE  # "What is the price of…", "When is the holiday party?", "How much is the…"
    if with_be:
        at += 1
    elif not counted or words[at] in FUNCTION_WORDS:  # "What tool pages…" (a category), "How much does…"
        return []
    phrase, at = _phrase(words, at)
    if not with_be and not any(w in _AUXILIARIES for w in words[at:]):
        phrase = phrase[:_verb_at(phrase)]  # "How many vans showed stale…": the verb follows the phrase
    return phrase


def _existence_at(words: list[str]) -> int | None:
    """Where the thing starts whose existence a yes-or-no question asks about: after "is there (a)" ("Is there
    visitor parking…") or after "have/offer/provide (a)" in a do-question ("Does the office have a kitchen?");
    None for other questions."""
    count = len(words)
    at = next((i + 2 for i in range(min(count - 1, 3)) if words[i] in _BE and words[i + 1] == "there"), None)
    if at is None and count and words[0] in ("do", "does", "did"):
        at = next((i + 1 for i in range(2, min(count, 6)) if words[i] in _OFFERING), None)
    return at


def _phrase(words: list[str], at: int) -> tuple[list[str], int]:
    """The noun phrase's words from `at`, after its determiners ("the", "a", "any"), to the next function word or
    number, and where it ends."""
    while at < len(words) and words[at] in _DETERMINERS:
        at += 1
    phrase: list[str] = []
    while at < len(words) and words[at] not in FUNCTION_WORDS and not words[at].isdigit():
        word = words[at]
        if word == _POSSESSIVE or (word in _KIND_OF and at + 1 < len(words) and words[at + 1] == "of"):
            phrase = []  # "the Lisbon office's phone number": the phone number; "kinds of leave": the leave
            at += 1 if word == _POSSESSIVE else 2
            continue
        phrase.append(word)
        at += 1
    return phrase, at


def _verb_at(phrase: list[str]) -> int:
    """Where the verb starts in the words after "how many" when no auxiliary follows: the first word that can only
    be a verb ("How many vans *showed* stale positions…"), else the last that may be a verb form with -s or -ed or
    follows a plural ("How many senior backend engineers *join* the team?": not "engineers")."""
    verbs = [at for at, word in enumerate(phrase) if at and "VERB" in lemmas(word)]
    only_verbs = [at for at in verbs if not can_be_noun(phrase[at])]
    forms = [at for at in verbs if phrase[at].endswith(("s", "ed")) or phrase[at - 1].endswith("s")
             or phrase[at - 1] in _PLURALS]
    return only_verbs[0] if only_verbs else forms[-1] if forms else len(phrase)
