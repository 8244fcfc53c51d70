"""The extractive engine as a new user meets it (issue #17): statements about other people,
dislikes and decisions; relative dates only where they are dates; every verb of a predicate
in the third person; who did it kept; one fact per statement, filler dropped; summaries from
substantive turns, split into sentences that know abbreviations."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from amos_vault.files.sessionfile import Message
from amos_vault.memory.dates import absolute_dates
from amos_vault.memory.rules import third_person
from amos_vault.memory.sentences import sentences
from amos_vault.memory.summarizer import (
    CandidateFact,
    ExtractiveSummarizer,
    SessionText,
    extract_facts,
)
from amos_vault.mirror import ActiveMirror

WEDNESDAY = dt.datetime(2026, 12, 2, 10, 0, tzinfo=dt.UTC)


def _facts(*texts: str, role: str = "user") -> list[CandidateFact]:
    messages = [
        Message(f"m-{n:08x}", role, text, WEDNESDAY + dt.timedelta(minutes=n))
        for n, text in enumerate(texts)
    ]
    return extract_facts(SessionText("Trial", messages, frozenset({role}), "Ana"))


def _by_text(facts: list[CandidateFact]) -> dict[str, CandidateFact]:
    return {fact.text: fact for fact in facts}


# -- 1. other people, dislikes, decisions ----------------------------------------------------


def test_statements_about_other_people_say_who_they_are_about() -> None:
    facts = _by_text(
        _facts(
            "Daniel is vegetarian.",
            "Ife is allergic to sesame.",
            "My partner Daniel hates cilantro.",
            "Lisbon is lovely in June.",  # a place, not a person: no fact
        )
    )
    assert facts["Daniel is vegetarian."].type == "knowledge"
    assert facts["Ife is allergic to sesame."].type == "knowledge"
    assert facts["Ife is allergic to sesame."].author == "Ana"
    assert "Ana's partner Daniel hates cilantro." in facts
    assert not any("Lisbon" in text for text in facts)


def test_a_dislike_keeps_its_negation_and_a_decision_is_a_fact() -> None:
    facts = _by_text(
        _facts(
            "I don't really like rosemary.",
            "I'm not a fan of cumin.",
            "I've decided to accept.",
            "I decided to accept the offer from Lumen.",
        )
    )
    assert facts["Ana doesn't really like rosemary."].type == "preference"
    assert facts["Ana is not a fan of cumin."].type == "preference"
    assert "Ana has decided to accept." in facts
    assert facts["Ana decided to accept the offer from Lumen."].confidence >= 0.8


def test_every_statement_of_a_message_is_learned(mirror: ActiveMirror, vault_root: Path) -> None:
    session = mirror.create_session("Dinner party")
    session.add_message(
        "user",
        "Planning a dinner for Saturday. Daniel is vegetarian. Ife is allergic to sesame. "
        "I love thyme, but I don't like rosemary.",
        timestamp=WEDNESDAY,
    )
    session.complete()
    mirror.memory.consolidate()
    notes = "".join(p.read_text() for p in (vault_root / "memory").glob("*.md"))
    for text in (
        "Daniel is vegetarian.",
        "Ife is allergic to sesame.",
        "Tester loves thyme.",
        "Tester doesn't like rosemary.",
    ):
        assert f"- {text} [" in notes


# -- 2. and 3. dates -------------------------------------------------------------------------


def test_a_title_made_of_date_words_is_not_a_date() -> None:
    title = "I just finished Tomorrow, and Tomorrow, and Tomorrow by Gabrielle Zevin."
    said = WEDNESDAY.date()
    assert absolute_dates(title, said) == title
    assert absolute_dates('I loved "Yesterday" by the Beatles.', said) == (
        'I loved "Yesterday" by the Beatles.'
    )
    assert (
        absolute_dates("Tomorrow I fly to Lisbon.", said) == "On 3 December 2026 I fly to Lisbon."
    )
    facts = _by_text(_facts(title))
    assert "Ana just finished Tomorrow, and Tomorrow, and Tomorrow by Gabrielle Zevin." in facts


@pytest.mark.parametrize(
    ("said", "resolved"),
    [
        ("I see the dentist next Monday.", "I see the dentist on 7 December 2026."),
        ("We are hiking on Saturday.", "We are hiking on 5 December 2026."),
        ("We went hiking on Saturday.", "We went hiking on 28 November 2026."),
        ("I fly out tomorrow.", "I fly out on 3 December 2026."),
        ("I fell yesterday.", "I fell on 1 December 2026."),
        ("I start the job in two weeks.", "I start the job on 16 December 2026."),
        ("I start in 3 days.", "I start on 5 December 2026."),
        ("I quit three days ago.", "I quit on 29 November 2026."),
        ("My sister visits this Friday.", "My sister visits on 4 December 2026."),
        ("I ran last Friday.", "I ran on 27 November 2026."),
        ("We move next month.", "We move in January 2027."),
        ("We went camping last summer.", "We went camping in the summer before 2 December 2026."),
        ("It is a Monday kind of mood.", "It is a Monday kind of mood."),
        ("I start on January 4.", "I start on 4 January 2027."),
        ("We flew to Rome on March 18th.", "We flew to Rome on 18 March 2026."),
        ("I booked a ryokan for 2 April.", "I booked a ryokan for 2 April 2027."),
        ("I was born on 4 May 1990.", "I was born on 4 May 1990."),
        ("We met on May 5, 2024.", "We met on May 5, 2024."),
        ("My birthday is March 14.", "My birthday is March 14."),
        ("I was born on August 3.", "I was born on August 3."),
        ("In 2019 we moved on August 3.", "In 2019 we moved on August 3."),
        ("I need the draft by March 3.", "I need the draft by 3 March 2027."),
        (
            "I'm so excited about the wedding on June 12.",
            "I'm so excited about the wedding on 12 June 2027.",
        ),
        ("I'm in Rome on March 18-20.", "I'm in Rome on March 18-20."),
        ("I called June 3 times today.", "I called June 3 times on 2 December 2026."),
        ("In May 3 people left.", "In May 3 people left."),
        ("We fly on Feb 29.", "We fly on 29 February 2028."),
        ("I may 5 times.", "I may 5 times."),
    ],
)
def test_relative_dates_are_resolved_against_the_day_said(said: str, resolved: str) -> None:
    assert absolute_dates(said, WEDNESDAY.date()) == resolved  # a Wednesday


def test_a_date_said_before_the_statement_stays_with_it() -> None:
    facts = _by_text(_facts("Yesterday I went to a pottery class."))
    assert "Ana went to a pottery class on 1 December 2026." in facts


# -- 4. and 5. verbs and subjects ------------------------------------------------------------


def test_every_verb_of_a_coordinated_predicate_is_conjugated() -> None:
    assert third_person("I use 500 g flour, and bake at 220 C", "Ana") == (
        "Ana uses 500 g flour, and bakes at 220 C"
    )
    assert third_person("I fly to Lisbon and stay with my aunt", "Ana") == (
        "Ana flies to Lisbon and stays with their aunt"
    )
    assert third_person("I usually start early and finish by noon", "Ana") == (
        "Ana usually starts early and finishes by noon"
    )
    assert third_person("I went there and loved it", "Ana") == "Ana went there and loved it"
    assert third_person("I use flour and water", "Ana") == "Ana uses flour and water"
    assert third_person("I was tired, and I was hungry", "Ana") == (
        "Ana was tired, and they were hungry"
    )


def test_the_subject_is_kept() -> None:
    facts = _by_text(
        _facts(
            "Loved the characters, found the middle slow.",
            "Seeing the kids smile makes me so happy.",
            "Max and I had a blast on the camping trip.",
        )
    )
    assert "Max and Ana had a blast on the camping trip." in facts
    assert "Ana loved the characters, found the middle slow." in facts
    assert "Seeing the kids smile makes Ana so happy." in facts
    assert not any(text.startswith(("Found", "Makes", "Ana: ")) for text in facts)


def test_statements_without_i_about_the_speaker_and_asides_to_the_listener() -> None:
    facts = _by_text(
        _facts(
            "Painting is a fun way for me to express my feelings.",
            "Gina, you won't believe it - I got mentored by a business coach yesterday!",
            "Caroline, my family has been great through all of it.",
            "Check out my new painting of the lake.",
            "He keeps my other pets active.",  # who "he" is, the fact would not say
            "I wanna help make a difference.",
        )
    )
    assert set(facts) == {
        "Painting is a fun way for Ana to express their feelings.",
        "Ana got mentored by a business coach on 1 December 2026.",
        "Ana's family has been great through all of it.",
        "Ana wants to help make a difference.",
    }


# -- 6. one statement, one fact --------------------------------------------------------------


def test_two_statements_in_one_sentence_are_two_facts_without_filler() -> None:
    facts = _by_text(
        _facts(
            "I take ibuprofen 400 mg after runs, but I'm allergic to penicillin if that matters."
        )
    )
    assert set(facts) == {
        "Ana takes ibuprofen 400 mg after runs.",
        "Ana is allergic to penicillin.",
    }
    assert all(fact.type == "knowledge" for fact in facts.values())
    kept = _by_text(_facts("I loved the characters but found the middle slow."))
    assert set(kept) == {"Ana loved the characters but found the middle slow."}


def test_the_trial_sentences_each_make_their_facts() -> None:
    facts = _by_text(
        _facts(
            "Daniel is vegetarian and Ife is allergic to sesame.",
            "My sourdough recipe is simple: I use 500 g flour, and bake at 220 C.",
            "Tom and Jerry is my favorite show.",
        )
    )
    assert {"Daniel is vegetarian.", "Ife is allergic to sesame."} <= set(facts)
    assert "Ana uses 500 g flour, and bakes at 220 C." in facts
    assert facts["Tom and Jerry is Ana's favorite show."].topic == "Ana: favorite show"


def test_short_plain_statements_are_facts_however_contracted() -> None:
    # "I am" counted as fewer words than "I'm": a short statement was dropped when spelled out.
    for said in ("I am allergic to penicillin.", "I'm allergic to penicillin."):
        assert set(_by_text(_facts(said))) == {"Ana is allergic to penicillin."}
    for said in ("I am vegan.", "I'm vegan."):
        assert set(_by_text(_facts(said))) == {"Ana is vegan."}
    for said in ("I am 34.", "I'm 34."):
        assert set(_by_text(_facts(said))) == {"Ana is 34."}
    assert not _facts("I go today.")  # a date alone is no substance
    assert set(_by_text(_facts("I live in Bristol."))) == {"Ana lives in Bristol."}
    assert set(_by_text(_facts("I work at Arup."))) == {"Ana works at Arup."}
    facts = _by_text(_facts("I take ibuprofen 400 mg after runs, but I am allergic to penicillin."))
    assert set(facts) == {
        "Ana takes ibuprofen 400 mg after runs.",
        "Ana is allergic to penicillin.",
    }


def test_statements_joined_by_and_i_are_two_facts() -> None:
    facts = _by_text(
        _facts(
            "I am allergic to peanuts and I live in Bristol with my two cats.",
            "I start at Arup on Monday and I will tell my manager tomorrow.",
            "I start on January 4.",
            "My sister and I went to Porto.",
            "I'm vegan and I'm allergic to kiwi.",
        )
    )
    assert {
        "Ana is allergic to peanuts.",
        "Ana lives in Bristol with their two cats.",
        "Ana starts at Arup on 7 December 2026.",
        "Ana starts on 4 January 2027.",
        "Ana will tell their manager on 3 December 2026.",
        "Ana's sister and Ana went to Porto.",
        "Ana is vegan.",
        "Ana is allergic to kiwi.",
    } == set(facts)
    # Right after a person, "and I" joins them in one statement, whatever came before.
    together = _by_text(
        _facts(
            "I should mention my husband and I are moving to Leeds.",
            "Last year I was in Porto, where my sister and I ran a marathon.",
            "For dinner, Daniel is vegetarian and Ife is allergic to nuts.",
        )
    )
    assert {
        "Ana's husband and Ana are moving to Leeds.",
        "Ana's sister and Ana ran a marathon in 2025.",
        "Daniel is vegetarian.",
        "Ife is allergic to nuts.",
    } <= set(together)


def test_a_request_to_the_listener_is_not_part_of_the_fact() -> None:
    facts = _facts("I don't like rosemary, so please leave it out.")
    assert [fact.text for fact in facts] == ["Ana doesn't like rosemary."]
    assert facts[0].topic == "Ana: likes: rosemary"


# -- 7. summaries ----------------------------------------------------------------------------


def test_sentences_know_abbreviations() -> None:
    text = (
        "I saw Dr. Okafor on Monday. She said e.g. swimming is fine. Mr. Li lives at No. 5 "
        "Elm St. with J. R. Smith. No. I will not go. It costs 3.50 a day."
    )
    assert sentences(text) == [
        "I saw Dr. Okafor on Monday.",
        "She said e.g. swimming is fine.",
        "Mr. Li lives at No. 5 Elm St. with J. R. Smith.",
        "No.",
        "I will not go.",
        "It costs 3.50 a day.",
    ]


def test_a_chat_summary_is_made_of_substantive_turns(mirror: ActiveMirror) -> None:
    session = mirror.create_session("Knee")
    session.add_message(
        "user", "My knee hurts after long runs. Dr. Okafor suggested physiotherapy twice a week."
    )
    session.add_message(
        "assistant",
        "From your vault:\n[1] Tester sees Dr. Okafor for the knee. (2026-12-06, knowledge)\n"
        "[2] Tester runs 10 km on Sundays. (2026-12-01, Running log)",
        metadata={"engine": "extractive"},
    )
    session.add_message("user", "ok thanks. Yep, sounds awesome, I'll definitely check it out!")
    session.add_message(
        "assistant",
        "Physiotherapy twice a week usually helps runner's knee within a month or two.",
        metadata={"engine": "ollama", "model": "llama3"},
    )
    session = mirror.sessions.resolve(session.id)  # as read back from its file
    summarizer = ExtractiveSummarizer(mirror.engine.embedder, summary_sentences=5)
    summary = summarizer.digest(SessionText(session.title, session.messages)).summary
    texts = [line.text for line in summary]
    assert "Dr. Okafor suggested physiotherapy twice a week." in texts
    assert any(text.startswith("Physiotherapy twice a week") for text in texts)
    assert not any("From your vault" in t or "2026-12-06" in t or t == "Dr." for t in texts)
    assert not any("check it out" in t for t in texts)  # chatter, not substance
    quoted = session.messages[1].id
    assert all(line.message_id != quoted for line in summary)
