"""The rules of the extractive summarizer: the English it knows, apart from the algorithm.

What carries meaning (stop words, light stemming), the patterns that recognise first-person
statements (preferences, identity, work, home, people, plans, events) with the type, confidence
and topic of the fact each makes, and the rewrites that turn a statement into a fact: the
clause kept, the third person with the speaker's name, relative dates made absolute.
`amos_vault.memory.summarizer` applies them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

_WORD = re.compile(r"[A-Za-z0-9']+")
_STOP_WORDS = (
    "a an the and or but if so to of in on at for with from by as is are was were be been "
    "am i me my we our you your he she it they them their this that these those there here "
    "do does did have has had not no yes just really very too also then than what when "
    "where who how oh hey hi yeah wow haha lol thanks thank ok okay so much can could would "
    "should will i'm i've i'd i'll it's that's"  # "I'm" is no more words than "I am"
)
_STOP = frozenset(_STOP_WORDS.split())


def content_words(text: str) -> list[str]:
    """Lower-case words that carry meaning, lightly stemmed (for overlap and topics)."""
    words = []
    for word in _WORD.findall(text.lower()):
        word = word.strip("'")
        if word in _STOP or len(word) < 2:
            continue
        for suffix in ("ing", "ed", "es", "s"):
            if word.endswith(suffix) and len(word) - len(suffix) >= 3:
                word = word[: -len(suffix)]
                break
        words.append(word)
    return words


_ADVERB = (
    r"(?:(?:really|also|just|still|absolutely|totally|definitely|usually|always|often|"
    r"actually|truly|now|recently|finally|currently|even|kinda|kind of|sort of|never|"
    r"sometimes|rarely|mostly|only|already|almost|honestly|personally|literally|seriously|"
    r"probably|barely|hardly|mainly|generally|normally|typically|occasionally|regularly|"
    r"once|first)\s+)*"
)
_PREF_VERBS = (
    r"love|like|enjoy|adore|prefer|hate|dislike|can't stand|cannot stand|"
    r"(?:don't|do not|never|didn't|did not)\s+(?:really |much |particularly |even )?"
    r"(?:like|love|enjoy|care for)|"
    r"(?:not )?(?:a (?:big |huge )?)?fan of|(?:not )?into|passionate about|obsessed with|"
    r"interested in|not keen on|keen on"
)
_EVENT_VERBS = (
    "went|visited|started|joined|finished|got|bought|adopted|moved|took|made|painted|ran|"
    "attended|signed up|graduated|met|won|lost|read|wrote|built|learned|tried|traveled|"
    "travelled|celebrated|volunteered|received|created|completed|began|decided|found|gave|"
    "participated|launched|opened|passed|quit|performed|played|saw|spoke|taught|uploaded|"
    "organized|organised|hosted|cooked|baked|climbed|hiked|camped|watched|bought|sold|"
    "published|released|applied|enrolled|married|broke up|gave birth|retired|switched|"
    "picked up|took up|discovered|fixed|planted|drew|recorded|composed|designed|donated|"
    "raised|rescued|competed|completed|reached|became|wrote"
)
_PEOPLE = (
    "wife|husband|partner|boyfriend|girlfriend|fianc[eé]e?|son|daughter|kids?|children|mom|"
    "mother|dad|father|parents|sister|brother|siblings|friend|best friend|friends|grandma|"
    "grandmother|grandpa|grandfather|family|dog|cat|pet|puppy|kitten|boss|team|mentor|cousin"
)


@dataclass(frozen=True)
class Rule:
    """A statement this pattern finds is a fact of this type and confidence; ``topic`` names
    what a later fact on the same topic replaces ("" for none); ``about_others``: the
    statement is about someone the speaker names ("Ife is allergic to sesame"), so the
    speaker's name is not put before it; ``min_words``: content words a fact needs."""

    pattern: re.Pattern[str]
    type: str
    confidence: float
    topic: Callable[[re.Match[str]], str] = lambda match: ""
    about_others: bool = False
    min_words: int = 3
    from_start: bool = False  # the statement starts with its clause ("Seeing X makes me…")
    fallback: bool = False  # tried only when no specific rule makes a fact


def _words_topic(prefix: str, group: str) -> Callable[[re.Match[str]], str]:
    def topic(match: re.Match[str]) -> str:
        words = content_words(match.group(group))[:3]
        return f"{prefix}{' '.join(words)}".strip() if words else ""

    return topic


def _fixed(topic: str) -> Callable[[re.Match[str]], str]:
    return lambda match: topic


_CONDITION = (
    r"(?:allergic|intolerant|sensitive) to|vegetarian|vegan|pescatarian|gluten[- ]free|"
    r"lactose[- ]intolerant|diabetic|celiac|coeliac|asthmatic|pregnant|married|engaged|"
    r"divorced|widowed|retired|colou?r[- ]blind|left[- ]handed|right[- ]handed|sober"
)
_HABIT_VERBS = (
    r"take|use|eat|drink|wear|speak|drive|ride|own|play|don't eat|do not eat|don't drink|"
    r"do not drink|never eat|never drink|can't eat|cannot eat|avoid|follow"
)
_DECISION_VERBS = (
    r"decided|chose|have chosen|'ve chosen|committed|made up my mind|agreed|accepted|declined|"
    r"turned down|settled on|opted|resolved"
)
_LIKES = (
    r"loves|likes|hates|prefers|enjoys|adores|can't stand|cannot stand|"
    r"(?:doesn't|does not|never) (?:really |much )?(?:like|eat|drink|enjoy)"
)
# A person named as the subject: a capitalised word that is not a function word, a day, a
# month or a pronoun ("Daniel", "Ife", "Mary Ann").
_NOT_NAMES = (
    r"I|The|This|That|These|Those|It|Its|We|They|He|She|You|My|Our|Your|His|Her|Their|What|"
    r"When|Where|Why|How|Who|Which|There|Here|Today|Tomorrow|Yesterday|Tonight|Everyone|"
    r"Everybody|Nobody|Someone|Something|Everything|Nothing|Anyone|Anything|Yes|No|Oh|Wow|"
    r"Thanks|Also|And|But|So|Just|Then|Well|Hey|Hi|Ok|Okay|Sure|Life|Work|Home|Mom|Dad|"
    r"Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|January|February|March|April|"
    r"May|June|July|August|September|October|November|December|Christmas|Easter|Summer|"
    r"Winter|Spring|Autumn|Fall|Dinner|Lunch|Breakfast|Coffee|Tea|Food|Music|Art|Travel"
)
_NAME = rf"(?!(?:{_NOT_NAMES})\b)[A-Z][a-z]+(?:[ -][A-Z][a-z]+)?"
_ROLE = (
    r"\w+(?:er|or|ist|ian|ant|ent|ee)|nurse|chef|vet|cook|nanny|coach|pilot|judge|student|"
    r"friend|colleague|coworker|neighbou?r|cousin|twin|runner|lawyer|medic|surgeon|artist"
)
# A clause that starts with one of these asks something of the listener ("Check out my…"),
# or says something of a thing or person it does not name ("It means a lot to me").
_IMPERATIVES = (
    r"check|look|see|take a look|have a look|come|let|imagine|guess|meet|say|tell|wish|"
    r"thank|thanks|please|remind|send|show|give|help|ask|call|text|wait|hope|sorry"
)
_UNNAMED = r"he|she|it|they|this|that|these|those|there|here|it's|that's|he's|she's|they're"
_I = r"\bI"
_IM = r"\bI(?:'m|’m| am)"
RULES = (
    Rule(
        re.compile(
            r"\bmy (?:all[- ]time |absolute |new )?fav(?:ou?rite)? (?P<what>[\w' -]{2,30}?) "
            r"(?:is|are|was|has to be|would be)\b",
            re.I,
        ),
        "preference",
        0.9,
        _words_topic("favorite ", "what"),
    ),
    Rule(  # "Tom and Jerry is my favorite show"
        re.compile(
            rf"^(?!(?:{_UNNAMED})\b).*?\b(?:is|are|was) (?:still |definitely )?my "
            r"(?:all[- ]time |absolute )?"
            r"fav(?:ou?rite)? (?P<what>[\w' -]{2,30}?)(?:[.!,;]|$| of all| ever)",
            re.I,
        ),
        "preference",
        0.85,
        _words_topic("favorite ", "what"),
        min_words=2,
        from_start=True,
    ),
    Rule(
        re.compile(rf"{_I}(?:'m|’m| am)? {_ADVERB}(?P<verb>{_PREF_VERBS})\b (?P<obj>.+)", re.I),
        "preference",
        0.8,
        _words_topic("likes: ", "obj"),
        min_words=2,  # "Ana loves thyme."
    ),
    # Identity: the pattern says what the fact is, so the place or name alone is enough
    # ("I live in Bristol", "I'm from Leeds", "I'm vegan").
    Rule(re.compile(r"\bmy name is\b", re.I), "knowledge", 0.95, _fixed("name"), min_words=2),
    Rule(
        re.compile(rf"{_IM} (?:\d{{1,3}})(?: (?:years old|yo)\b|\s*[.!]*$)", re.I),
        "knowledge",
        0.9,
        _fixed("age"),
        min_words=1,  # "I'm 34."
    ),
    Rule(
        re.compile(
            rf"{_I} {_ADVERB}(?:live|am living|'m living|moved|relocated) (?:in|to)\b", re.I
        ),
        "knowledge",
        0.85,
        _fixed("home"),
        min_words=2,
    ),
    Rule(
        re.compile(rf"{_IM} (?:originally )?from\b", re.I),
        "knowledge",
        0.85,
        _fixed("origin"),
        min_words=1,
    ),
    Rule(
        re.compile(rf"{_I} {_ADVERB}(?:work|am working|'m working) (?:as|at|for)\b", re.I),
        "knowledge",
        0.85,
        _fixed("work"),  # a new employer or role replaces the old one
        min_words=2,
    ),
    Rule(re.compile(r"\bmy (?:job|work)\b", re.I), "knowledge", 0.75),
    Rule(
        re.compile(rf"{_IM} {_ADVERB}(?:a|an) (?!bit\b|little\b|lot\b|fan\b)(?P<what>\w+)", re.I),
        "knowledge",
        0.75,
    ),
    Rule(
        re.compile(
            rf"\bmy (?:{_PEOPLE})\b(?:,? [A-Z]\w+,?)?(?: and (?:I|my \w+))? {_ADVERB}(?:is|are|"
            r"was|were|has|have|had|loves?|likes?|hates?|got|turned|started|just|works?|lives?|"
            r"can't|doesn't|\w+ed)\b",
            re.I,
        ),
        "knowledge",
        0.7,
    ),
    Rule(
        re.compile(rf"{_IM} {_ADVERB}(?:{_CONDITION})", re.I),
        "knowledge",
        0.9,
        min_words=1,
    ),
    Rule(
        re.compile(rf"{_I} {_ADVERB}(?:{_HABIT_VERBS})\b", re.I),
        "knowledge",
        0.7,
    ),
    Rule(
        re.compile(rf"{_I}(?:'ve| have)? {_ADVERB}(?:{_DECISION_VERBS})\b", re.I),
        "context",
        0.85,
        min_words=2,
    ),
    Rule(
        re.compile(
            rf"^{_NAME}(?:'s (?:{_PEOPLE}))? {_ADVERB}(?:is|'s|was) {_ADVERB}(?:not )?"
            rf"(?:{_CONDITION}|from\b|(?:\d{{1,3}}|an? \w+) years? old|an? (?:\w+ )?{_ROLE})",
        ),
        "knowledge",
        0.75,
        about_others=True,
        min_words=2,
    ),
    Rule(
        re.compile(
            rf"^{_NAME}(?:'s (?:{_PEOPLE}))? {_ADVERB}(?:(?:{_LIKES})\b|"
            rf"(?:works (?:as|at|for)|lives in|moved to|studies|speaks|plays|eats|drinks|has "
            r"(?:a|an|two|three|\d+)|got (?:a|an|married|engaged)|started|joined)\b)",
        ),
        "preference",
        0.7,
        about_others=True,
        min_words=2,
    ),
    Rule(
        re.compile(rf"{_I} (?:have|'ve got|have got) (?:a|an|two|three|four|\d+) ", re.I),
        "knowledge",
        0.7,
    ),
    Rule(
        re.compile(
            rf"(?:{_IM} {_ADVERB}(?:planning|going|gonna|hoping|thinking about|about|excited) to"
            rf"|{_I} {_ADVERB}(?:plan|want|hope|intend|would love|'d love|'ll|will) (?:to )?)"
            r"(?!be\b)",
            re.I,
        ),
        "context",
        0.6,
    ),
    Rule(re.compile(rf"{_I} {_ADVERB}(?:{_EVENT_VERBS})\b", re.I), "context", 0.7),
    Rule(re.compile(rf"{_I}(?:'ve| have) {_ADVERB}been \w+ing\b", re.I), "context", 0.6),
    Rule(re.compile(rf"{_I} {_ADVERB}used to\b", re.I), "context", 0.6),
    Rule(
        re.compile(r"\b(?:makes?|made|gets?|keeps?) me (?:so |really |very |feel )*\w+", re.I),
        "preference",
        0.6,
        from_start=True,
    ),
    Rule(
        re.compile(
            rf"{_IM} {_ADVERB}(?:working on|learning|taking|training|volunteering|studying|"
            r"reading|writing|painting|building|teaching|practicing|practising|saving)\b",
            re.I,
        ),
        "context",
        0.65,
    ),
    # A statement about something of the speaker's or done to them ("Painting is a way for me
    # to relax", "The kids made my day"): the whole clause, with a lower confidence.
    Rule(
        re.compile(rf"^(?!(?:{_IMPERATIVES}|{_UNNAMED})\b).*?\b(?:me|my|myself)\b", re.I),
        "context",
        0.55,
        from_start=True,
        fallback=True,
    ),
    # Any other first-person statement with some substance: kept with a lower confidence.
    Rule(
        re.compile(
            rf"{_I}(?:'m|’m| am|'ve| have)? {_ADVERB}"
            r"(?!think\b|guess\b|know\b|mean\b|wish\b|can't wait\b|agree\b|bet\b|hear\b|"
            r"see what\b|understand\b|appreciate\b|totally\b|so glad\b|glad\b|sorry\b)[a-z]+",
            re.I,
        ),
        "context",
        0.55,
        fallback=True,
    ),
)

# A statement without its "I": "Got the tattoo years ago", "Loved the characters".
NO_SUBJECT = re.compile(
    rf"^(?:just |recently |finally |also |then )?(?:{_EVENT_VERBS}|used to|[a-z]{{3,}}ed"
    r"(?= (?:the|a|an|my|our|it|this|that|these|those|some|all|his|her|their|them|him|up|out)"
    r"\b))\b",
    re.I,
)
# Where one sentence holds two statements: before a clause with its own subject ("I", "my",
# a name) after a semicolon, a dash, "but", ", and", ", so"... ("I take ibuprofen after runs,
# but I'm allergic to penicillin"). "I loved it but found it slow" stays one statement.
_OWN_VERB = r"(?:is|are|was|were|has|have|had|just|got|loves?|likes?|hates?|[a-z]+ed)\b"
CLAUSE_BREAK = re.compile(
    r"(?:\s*[;:—–]\s*|\s+-\s+|,?\s+(?:but|whereas|although|though|plus)\s+|"
    r",\s+(?:and|so|and also|also)\s+|\.{3}\s*|,\s+)"
    rf"(?=(?:I|I'm|I’m|I've|I'd|I'll)\b|(?:[Mm]y (?:\w+ ){{1,2}}|{_NAME} ){_OWN_VERB})"
    rf"|\s+and\s+(?={_NAME} {_OWN_VERB})"  # "Daniel is vegetarian and Ife is allergic…"
    r"|\s+and\s+(?=(?:I|I'm|I’m|I've|I'd|I'll)\b)"  # "… peanuts and I live in Bristol"
)
# A plain " and I" starts a statement of its own only after one ("I am allergic to peanuts
# and I…", "My name is Maya and I…"), never right after a person: "(I think) my husband and I
# are moving" is one statement about both.
STATEMENT_SO_FAR = re.compile(rf"\bI(?:'m|’m|'ve|'d|'ll)?\b|\b[Mm]y (?:\w+ ){{1,2}}{_OWN_VERB}")
PERSON_BEFORE_AND = re.compile(rf"(?:\b[Mm]y (?:\w+ )?\w+|\b{_NAME}|\b(?:me|him|her|us))$")
# A request to the listener after a statement: ", so please leave it out".
REQUEST = re.compile(r"[,;]\s*(?:so\s+|and\s+)?please\b[^.!?]*[.!?]*$", re.I)
SUBJECT = re.compile(rf"\b(?:I|[Mm]y|me)\b|^{_NAME} ")
TRAILING_FILLER = re.compile(
    r"[,;]?\s*\b(?:if (?:that|it) (?:matters|helps)|if you must know|just so you know|"
    r"for what it's worth|fwiw|lol|haha|hah|you know|to be honest|tbh|by the way|btw|anyway|"
    r"I guess|I think|I suppose|or something|or whatever)\s*([.!…]*)$",
    re.I,
)
# The listener called by name before a statement: "Caroline, my family's been great" (else
# read as "Caroline, Ana's family…").
VOCATIVE = re.compile(rf"^(?i:hey |hi |oh )?{_NAME},\s+(?=\S+ \S+ \S+)")
HEDGES = re.compile(r"\b(?:maybe|might|probably|perhaps|not sure|i think|i guess|kinda)\b", re.I)
FILLER = re.compile(
    r"^(?:(?:yeah|yes|yep|oh|wow|haha|hah|lol|well|so|and|but|also|hey|hi|thanks|thank you|"
    r"ok|okay|omg|aw+|ah|hmm|true|totally|absolutely|definitely|sure|great|cool|nice|awesome|"
    r"congrats|exactly|right)\b[^,.!]{0,25}[,.!]\s*)+",
    re.I,
)

# Pronoun and verb rewriting to the third person.
_BASE_VERBS_WORDS = (
    "love like enjoy adore prefer hate dislike want need work live plan hope think feel "
    "play go try do have make take get know believe find keep run teach study read write "
    "paint cook bake watch listen miss wish intend remember mean say see use own volunteer "
    "collect stay start finish fly visit meet call buy sell spend save pay clean wash help "
    "lead manage build fix design draw sing dance learn travel move rent share hike climb "
    "camp knit sew record check bring send give join attend donate speak talk tell ask sit "
    "stand stop quit open close add mix roast boil grill stir pour serve eat drink feed walk "
    "jog swim bike ride drive lift stretch rest sleep wake meditate pray wear carry come "
    "leave coach train practice practise follow avoid skip grow plant"
)
_BASE_VERBS = frozenset(_BASE_VERBS_WORDS.split())
# Words after "I" that stay as they are: modals, past forms, negated helpers.
_KEEP_WORDS = (
    "can could will would should might must may shall can't couldn't won't wouldn't "
    "shouldn't didn't wasn't was did had went got made took saw ran read wrote found felt "
    "bought brought thought taught caught left met kept slept spent sent built began became "
    "came gave knew grew drew flew threw won lost told sold held heard paid said sat stood "
    "understood put set cut hit let quit ate drank swam sang forgot chose spoke broke woke "
    "wore fell fed led rode drove hid shot fought stuck hung lit meant dealt learnt burnt "
    "used gonna"
)
_KEEP = frozenset(_KEEP_WORDS.split())
_IRREGULAR = {"have": "has", "do": "does", "go": "goes", "am": "is", "don't": "doesn't"}
_IRREGULAR.update({"haven't": "hasn't", "wanna": "wants to", "gotta": "has to"})
_PLURAL_PAST = {"was": "were", "wasn't": "weren't"}
_COORDINATED = re.compile(rf"(,? (?:and|or|then|but|and then) {_ADVERB})([a-z]+)(?= \w)")


def _third_person_verb(word: str, known_only: bool = False) -> str:
    """``word`` as the verb of "she" instead of "I" ("fly" -> "flies"); ``known_only``:
    only a known base verb changes (for a verb after "and", where a noun could stand)."""
    lower = word.lower().replace("’", "'")
    if lower in _IRREGULAR:
        return _IRREGULAR[lower]
    if known_only and lower not in _BASE_VERBS:
        return word
    if lower in _KEEP or lower.endswith(("ed", "'t", "s")) or not lower.isalpha():
        return word
    if lower.endswith(("sh", "ch", "x", "z", "o")):
        return word + "es"
    if lower.endswith("y") and lower[-2:-1] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


_MARK = "\x00"  # put after the speaker's conjugated verb while rewriting
_INFINITIVE = re.compile(
    rf"\b(?:(?:to|can|could|will|would|should|might|must|'ll|'d) {_ADVERB}"
    rf"(?:{'|'.join(sorted(_BASE_VERBS))}))\b",
    re.I,
)


def _conjugate_coordinated(text: str) -> str:
    """The verbs after the speaker's first one (marked) conjugated too: "uses flour, and
    bake at 220 C" -> "and bakes"; up to the next subject ("they"), never in an infinitive
    ("likes to cook and bake")."""
    head, _mark, tail = text.partition(_MARK)
    later = re.search(r"\bthey\b", tail)
    scope, rest = (tail[: later.start()], tail[later.start() :]) if later else (tail, "")

    def conjugate(match: re.Match[str]) -> str:
        if _INFINITIVE.search(scope[: match.start()]):
            return match.group(0)
        return match.group(1) + _third_person_verb(match.group(2), known_only=True)

    return head + _COORDINATED.sub(conjugate, scope) + rest


def third_person(text: str, name: str, *, say_who: bool = True) -> str:
    """``text`` said by ``name`` in the first person, rewritten in the third person: the name
    for the first "I", "my" or "me", then "they", "their", "them"; every verb of the
    speaker's predicate conjugated. A statement that names nobody is put after "name: "
    (unless not ``say_who``: it is about someone it names)."""
    state = {"named": False}

    def subject() -> str:
        if state["named"]:
            return "they"
        state["named"] = True
        return name

    def swap(match: re.Match[str]) -> str:
        word, rest = match.group(1), match.group(2) or ""
        lower = word.lower().replace("’", "'")
        if lower in ("i'm", "i am"):
            who = subject()
            return f"{who} {'are' if who == 'they' else 'is'}{rest}"
        if lower in ("i've", "i'd", "i'll"):
            who = subject()
            have = "has" if who != "they" else "have"
            helper = {"i've": have, "i'd": "would", "i'll": "will"}[lower]
            return f"{who} {helper}{rest}"
        if lower == "i" and WITH_OTHERS.search(text[: match.start()]):
            state["named"] = True
            return f"{name}{rest}"  # "my sister and I" -> "Ana's sister and Ana"
        if lower == "i":
            who = subject()
            verb = re.match(rf"(\s+{_ADVERB})(\S+)(.*)", rest, re.I | re.S)
            if not verb:
                return f"{who}{rest}"
            head, word, tail = verb.groups()
            if who == "they":
                return f"{who}{head}{_PLURAL_PAST.get(word, word)}{tail}"
            conjugated = _third_person_verb(word)
            mark = _MARK if conjugated != word and _MARK not in text else ""
            return f"{who}{head}{conjugated}{mark}{tail}"
        if lower == "my":
            owner = f"{name}'s" if not state["named"] else "their"
            state["named"] = True
            return owner + rest
        if lower in ("me", "myself"):
            if not state["named"]:
                return subject() + rest
            return ("them" if lower == "me" else "themselves") + rest
        if lower == "mine":
            return "theirs" + rest
        return match.group(0)

    pronoun = rf"\b(I(?:'m|’m| am|'ve|'d|'ll)|I|[Mm]y|me|myself|mine)\b(\s+{_ADVERB}\S+)?"
    rewritten = re.sub(pronoun, swap, text)
    rewritten = _conjugate_coordinated(rewritten)
    if not state["named"] and say_who:  # the statement named nobody: say who said it
        rewritten = f"{name}: {rewritten}"
    return rewritten[:1].upper() + rewritten[1:]


ABOUT_YOU = re.compile(r"\b(?:you|your|yours|you're|you've)\b", re.I)
_ASIDE = re.compile(r"\s*(?<!\[)\[(?!\[)[^\[\]]*\](?!\])")  # [an aside], never a [[link]]
NEGATED = re.compile(r"\b(?:not|never|no|\w+n't|cannot)\b[^,;.]*$", re.I)
WITH_OTHERS = re.compile(r"(?:\b[Mm]y \w+|\b[A-Z]\w+)(?: \w+)? and $")


def clause_at(sentence: str, start: int) -> str:
    """The statement from ``start`` to the sentence end, at most ~40 words, without
    bracketed asides and without "::" (which would read as an inline field)."""
    clause = _ASIDE.sub("", sentence[start:]).replace("::", ":").strip()
    words = clause.split()
    if len(words) > 40:
        clause = " ".join(words[:40]).rstrip(",;:") + "…"
    return clause.rstrip(" ,;:-")
