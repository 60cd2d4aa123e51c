"""bitrag's own words around an answer — "I don't know", the sources' heading — in the language of the question
(rag/replies.py), each beside the English control."""

from __future__ import annotations

from bot.adapters.discord.render import sources_block
from bot.adapters.slack.render import source_lines
from bot.views import AnswerView
from rag.replies import REPLIES, language_of, not_mentioned
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


def test_every_language_says_the_same_things() -> None:
    for code, replies in REPLIES.items():
        assert replies.not_mentioned.count("{names}") == 1, code
        assert "ingest" in replies.empty, code  # the command keeps its name
        assert replies.sources and replies.closest_sources and replies.sources != replies.closest_sources, code
    assert not_mentioned("ko", ["v3"]).startswith("모르겠습니다: ") and '"v3"' in not_mentioned("ko", ["v3"])
    assert "「v3」" in not_mentioned("ja", ["v3"]) and "„v3“" in not_mentioned("de", ["v3"])
    assert not_mentioned("en", ["v3"]) == ("I don't know: the passages closest to your question never mention "
                                           '"v3". The closest sources are listed below.')
    assert not_mentioned("pl", ["v3"]) == not_mentioned("en", ["v3"])  # a language without replies: English


def opening(code: str) -> str:
    """What every refusal in `code` starts with: "I don't know:", "모르겠습니다:"…"""
    text = REPLIES[code].not_covered
    return text[:min(i for i in (text.find(":"), text.find("：")) if i >= 0) + 1]


async def test_a_refusal_is_written_in_the_language_of_the_question(service: RagService) -> None:
    empty = await service.ask("사내 헬스장이 있나요?", "acme")
    assert not empty.grounded and empty.text == REPLIES["ko"].empty
    await ingest_samples(service, "acme")
    english = await service.ask("What is the dress code?", "acme")
    assert not english.grounded and english.text.startswith("I don't know:")  # the control
    for question, code in (("¿Cuál es el código de vestimenta?", "es"), ("Quel est le code vestimentaire ?", "fr"),
                           ("회사 복장 규정은 무엇인가요?", "ko")):
        answer = await service.ask(question, "acme")
        assert not answer.grounded and answer.text.startswith(opening(code)), (question, answer.text)
        assert answer.sources  # the closest sources are listed as for English
    named = await service.ask("Kestrel v3는 언제 나오나요?", "acme")
    assert not named.grounded and named.text == not_mentioned("ko", ["v3"])
    # an answered question is untouched: quoted from the documents, cited
    answered = await service.ask("When does Kestrel v2 ship?", "acme")
    assert answered.grounded and "September 15" in answered.text


async def test_the_sources_heading_is_in_the_language_of_the_question(service: RagService) -> None:
    """Every adapter renders `AnswerView.sources_title`: Slack and Discord shown here, English as the control."""
    await ingest_samples(service, "acme")
    cases = [("When does Kestrel v2 ship?", "Sources"), ("What is the dress code?", "Closest sources"),
             ("회사 복장 규정은 무엇인가요?", "가장 가까운 출처"),
             ("¿Cuál es el código de vestimenta?", "Fuentes más cercanas")]
    for question, heading in cases:
        view = AnswerView.of(question, await service.ask(question, "acme"))
        assert view.sources_title == heading, question
        assert source_lines(view).startswith(f"*{heading}*")
        assert sources_block(view).startswith(f"**{heading}**")
