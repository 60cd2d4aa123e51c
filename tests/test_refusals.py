"""An "I don't know" in the language of the question (rag/refusals.py), beside the English control."""

from __future__ import annotations

from rag.refusals import REFUSALS, language_of, not_mentioned
from rag.service import RagService
from tests.test_pipeline import ingest_samples


def test_the_language_of_a_question_is_told_by_its_script_or_its_words() -> None:
    assert language_of("How many days of vacation do I get?") == "en"  # the control
    assert language_of("회사 복장 규정은 무엇인가요?") == "ko"
    assert language_of("Kestrel v3는 언제 나오나요?") == "ko"  # Latin names in a Korean question
    assert language_of("服装規定はありますか？") == "ja"
    assert language_of("公司的着装要求是什么？") == "zh"
    assert language_of("¿Cuántos días de vacaciones tengo?") == "es"
    assert language_of("Wie viele Urlaubstage bekomme ich?") == "de"
    assert language_of("Combien de jours de congé ai-je ?") == "fr"
    assert language_of("Quanti giorni di ferie ho?") == "it"
    assert language_of("Is het alcohol vergoed?") == "nl"
    assert language_of("Quantos dias de férias eu tenho?") == "pt"
    # what cannot be told is English: one word, or a language without refusals
    assert language_of("SLA?") == "en" and language_of("Ile dni urlopu mam?") == "en"


def test_every_language_says_the_same_three_things() -> None:
    for code, refusals in REFUSALS.items():
        assert refusals.not_mentioned.count("{names}") == 1, code
        assert "ingest" in refusals.empty, code  # the command keeps its name
    assert not_mentioned("Kestrel v3는 언제 나오나요?", ["v3"]).startswith("모르겠습니다: ")
    assert '"v3"' in not_mentioned("Kestrel v3는 언제 나오나요?", ["v3"])
    assert "「v3」" in not_mentioned("Kestrel v3はいつ出ますか？", ["v3"])
    assert not_mentioned("When does Kestrel v3 ship?", ["v3"]) == ("I don't know: the passages closest to your "
                                                                   'question never mention "v3". The closest sources '
                                                                   "are listed below.")


def opening(code: str) -> str:
    """What every refusal in `code` starts with: "I don't know:", "모르겠습니다:"…"""
    text = REFUSALS[code].not_covered
    return text[:min(i for i in (text.find(":"), text.find("：")) if i >= 0) + 1]


async def test_a_refusal_is_written_in_the_language_of_the_question(service: RagService) -> None:
    empty = await service.ask("사내 헬스장이 있나요?", "acme")
    assert not empty.grounded and empty.text == REFUSALS["ko"].empty
    await ingest_samples(service, "acme")
    english = await service.ask("What is the dress code?", "acme")
    assert not english.grounded and english.text.startswith("I don't know:")  # the control
    for question, code in (("¿Cuál es el código de vestimenta?", "es"), ("Quel est le code vestimentaire ?", "fr"),
                           ("회사 복장 규정은 무엇인가요?", "ko")):
        answer = await service.ask(question, "acme")
        assert not answer.grounded and answer.text.startswith(opening(code)), (question, answer.text)
        assert answer.sources  # the closest sources are listed as for English
    named = await service.ask("Kestrel v3는 언제 나오나요?", "acme")
    assert not named.grounded and named.text == not_mentioned("Kestrel v3는 언제 나오나요?", ["v3"])
    # an answered question is untouched: quoted from the documents, cited
    answered = await service.ask("When does Kestrel v2 ship?", "acme")
    assert answered.grounded and "September 15" in answered.text
