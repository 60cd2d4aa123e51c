"""What bitrag itself writes around an answer — "I don't know", the sources' heading — in the question's language.

An LLM answers in the asker's language (`prompt.py`), but the words bitrag writes itself were English only: a Korean
team asking in Korean got "I don't know: none of the documents…" and "Closest sources" under Korean sources. A
refusal is an answer like any other, so it and the heading of the sources are written in the question's language
where bitrag can tell it: Korean (any Hangul: "Kestrel v3는 언제 나오나요?"), Japanese (kana), Chinese (Han characters
without kana), and, for Latin script, English, German, Spanish, French, Italian, Dutch or Portuguese, judged by which
language's word list finds the question's words most common (`everyday.language`, the lists the rare-word check
loads anyway; the first Latin-script question loads them, ~0.2 s: call `language_of` in a worker thread). Anything
else gets English, and so does a one-word question ("SLA?" is Dutch lettuce to the lists).

Not covered: the chat platforms' buttons, commands' replies and error messages stay English; a Latin-script language
other than those seven (Polish, Swedish, Turkish…) gets English.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from rag.analyze import HAN, HANGUL, KANA, WORD
from rag.everyday import language

_HANGUL, _KANA, _HAN = (re.compile(f"[{letters}]") for letters in (HANGUL, KANA, HAN))


@dataclass(frozen=True)
class Replies:
    not_covered: str  # nothing retrieved covers the question closely enough
    not_mentioned: str  # {names}: what the closest passages never mention
    empty: str  # nothing the asker may read is in the knowledge base
    sources: str  # the heading of an answer's cited sources
    closest_sources: str  # ... and of a refusal's closest ones
    quotes: tuple[str, str] = ('"', '"')


REPLIES = {
    "en": Replies(
        "I don't know: none of the documents in this knowledge base covers that closely enough. "
        "The closest sources are listed below.",
        "I don't know: the passages closest to your question never mention {names}. "
        "The closest sources are listed below.",
        "I don't know: this knowledge base has no documents yet. Add some with ingest.",
        "Sources", "Closest sources"),
    "ko": Replies(
        "모르겠습니다: 이 지식 베이스의 어떤 문서도 이 질문을 충분히 가깝게 다루지 않습니다. "
        "가장 가까운 출처를 아래에 적었습니다.",
        "모르겠습니다: 질문과 가장 가까운 구절 어디에도 {names}에 대한 언급이 없습니다. "
        "가장 가까운 출처를 아래에 적었습니다.",
        "모르겠습니다: 이 지식 베이스에는 아직 문서가 없습니다. ingest로 문서를 추가하세요.",
        "출처", "가장 가까운 출처"),
    "ja": Replies(
        "わかりません：このナレッジベースには、この質問に十分に答える文書がありません。最も近い出典を下に示します。",
        "わかりません：質問に最も近い箇所のどこにも{names}は出てきません。最も近い出典を下に示します。",
        "わかりません：このナレッジベースにはまだ文書がありません。ingest で追加してください。",
        "出典", "最も近い出典",
        ("「", "」")),
    "zh": Replies(
        "我不知道：此知识库中没有文档足够贴切地涵盖这个问题。下面列出了最接近的来源。",
        "我不知道：与您的问题最接近的段落都没有提到{names}。下面列出了最接近的来源。",
        "我不知道：此知识库还没有文档。请用 ingest 添加。",
        "来源", "最接近的来源",
        ("「", "」")),
    "de": Replies(
        "Ich weiß es nicht: Kein Dokument dieser Wissensbasis behandelt das genau genug. "
        "Die nächstliegenden Quellen stehen unten.",
        "Ich weiß es nicht: Die Passagen, die Ihrer Frage am nächsten sind, erwähnen {names} nirgends. "
        "Die nächstliegenden Quellen stehen unten.",
        "Ich weiß es nicht: Diese Wissensbasis enthält noch keine Dokumente. Fügen Sie welche mit ingest hinzu.",
        "Quellen", "Nächstliegende Quellen",
        ("„", "“")),
    "es": Replies(
        "No lo sé: ningún documento de esta base de conocimiento trata eso con suficiente precisión. "
        "Abajo están las fuentes más cercanas.",
        "No lo sé: los pasajes más cercanos a su pregunta nunca mencionan {names}. "
        "Abajo están las fuentes más cercanas.",
        "No lo sé: esta base de conocimiento aún no tiene documentos. Añada algunos con ingest.",
        "Fuentes", "Fuentes más cercanas"),
    "fr": Replies(
        "Je ne sais pas : aucun document de cette base de connaissances ne traite cela d'assez près. "
        "Les sources les plus proches sont listées ci-dessous.",
        "Je ne sais pas : les passages les plus proches de votre question ne mentionnent jamais {names}. "
        "Les sources les plus proches sont listées ci-dessous.",
        "Je ne sais pas : cette base de connaissances n'a pas encore de documents. Ajoutez-en avec ingest.",
        "Sources", "Sources les plus proches",
        ("« ", " »")),
    "it": Replies(
        "Non lo so: nessun documento di questa base di conoscenza tratta l'argomento abbastanza da vicino. "
        "Le fonti più vicine sono elencate qui sotto.",
        "Non lo so: i passaggi più vicini alla domanda non menzionano mai {names}. "
        "Le fonti più vicine sono elencate qui sotto.",
        "Non lo so: questa base di conoscenza non ha ancora documenti. Aggiungine con ingest.",
        "Fonti", "Fonti più vicine"),
    "nl": Replies(
        "Ik weet het niet: geen document in deze kennisbank behandelt dat nauwkeurig genoeg. "
        "De dichtstbijzijnde bronnen staan hieronder.",
        "Ik weet het niet: de passages die het dichtst bij je vraag liggen, noemen {names} nergens. "
        "De dichtstbijzijnde bronnen staan hieronder.",
        "Ik weet het niet: deze kennisbank heeft nog geen documenten. Voeg ze toe met ingest.",
        "Bronnen", "Dichtstbijzijnde bronnen"),
    "pt": Replies(
        "Não sei: nenhum documento desta base de conhecimento trata disso com precisão suficiente. "
        "As fontes mais próximas estão listadas abaixo.",
        "Não sei: os trechos mais próximos da sua pergunta nunca mencionam {names}. "
        "As fontes mais próximas estão listadas abaixo.",
        "Não sei: esta base de conhecimento ainda não tem documentos. Adicione alguns com ingest.",
        "Fontes", "Fontes mais próximas"),
}


def language_of(question: str) -> str:
    """The language bitrag writes its own words about `question` in: a key of `REPLIES`, English when it cannot be
    told."""
    if _HANGUL.search(question):  # "Kestrel v3는 언제 나오나요?" is Korean, whatever its Latin names
        return "ko"
    if _KANA.search(question):
        return "ja"
    if _HAN.search(question):
        return "zh"
    text = unicodedata.normalize("NFC", question.lower())  # as the word lists spell: "é" one character
    words = [w for w in WORD.findall(text) if not any(c.isdigit() for c in w)]
    found = language(words)
    # One word says too little: "SLA?" is Dutch lettuce to the lists.
    return found if found in REPLIES and len(words) > 1 else "en"


def replies_in(code: str) -> Replies:
    """The replies in language `code` (a `language_of` result; English for any other)."""
    return REPLIES.get(code, REPLIES["en"])


def not_mentioned(code: str, missing: Sequence[str]) -> str:
    """The refusal naming what the closest passages never mention, in language `code`."""
    replies = replies_in(code)
    opening, closing = replies.quotes
    return replies.not_mentioned.format(names=", ".join(f"{opening}{word}{closing}" for word in missing))
