"""The offline `local` provider of `serenity_form_analysis`: keyword scoring of a transcript.

Deterministic and explainable, not clever: the cues, the clause rule and the negation rule
are in lexicon.yaml. It answers in the same shape as a model (the function's arguments), and
the result is labelled as the offline provider's by the caller (`StructuredResult`).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

LEXICON_FILE = Path(__file__).with_name("lexicon.yaml")
LANGUAGES = ("en", "cs", "de")
# The AI layer passes language names; the lexicon is keyed by ISO code.
LANGUAGE_CODES = {"English": "en", "Czech": "cs", "German": "de"}
# The local provider claims at most this confidence (all five questions answered).
MAX_CONFIDENCE = 0.6
MAX_CLAUSE_WORDS = 40

_PUNCTUATION = r"[.!?;:,\n\u2013\u2014]+|\s-\s"
_WORD = re.compile(r"\w+")
_GAP = r"(?:\W+\w+){0,2}?\W+"


@dataclass(frozen=True)
class Cue:
    phrase: str
    level: int
    pattern: re.Pattern[str]


@dataclass(frozen=True)
class QuestionCues:
    topic: tuple[re.Pattern[str], ...]
    cues: tuple[Cue, ...]


@dataclass(frozen=True)
class Language:
    clause: re.Pattern[str]
    negation: re.Pattern[str]
    questions: dict[str, QuestionCues]


def normalise(text: str) -> str:
    """Lower case, no diacritics, no apostrophes: how both cues and transcripts are compared."""
    text = text.casefold().replace("\u00df", "ss")
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return re.sub(r"['\u2019`]", "", text)


def _word(fragment: str) -> str:
    if fragment.endswith("$"):
        return re.escape(fragment[:-1]) + r"\b"
    return re.escape(fragment) + r"\w*"


def _pattern(phrase: str) -> re.Pattern[str]:
    words = normalise(phrase).split()
    return re.compile(r"\b" + _GAP.join(_word(w) for w in words))


@lru_cache(maxsize=1)
def lexicon() -> dict[str, Language]:
    """lexicon.yaml compiled (read once)."""
    raw: dict[str, Any] = yaml.safe_load(LEXICON_FILE.read_text(encoding="utf-8"))
    languages: dict[str, Language] = {}
    for code in LANGUAGES:
        entry = raw[code]
        conjunctions = "|".join(
            r"\s+".join(map(re.escape, normalise(c).split())) for c in entry["conjunctions"]
        )
        clause = re.compile(_PUNCTUATION + r"|\b(?:" + conjunctions + r")\b")
        negation = re.compile(
            r"\b(?:" + "|".join(_word(normalise(w)) for w in entry["negations"]) + r")"
        )
        questions = {
            question_id: QuestionCues(
                topic=tuple(_pattern(p) for p in spec["topic"]),
                cues=tuple(
                    Cue(phrase=phrase.replace("$", ""), level=int(level), pattern=_pattern(phrase))
                    for level in ("0", "1", "2")
                    for phrase in spec[level]
                ),
            )
            for question_id, spec in entry["questions"].items()
        }
        languages[code] = Language(clause=clause, negation=negation, questions=questions)
    return languages


def clauses(language: Language, text: str) -> list[str]:
    """The normalised transcript cut into short clauses (one observation each, mostly); a run
    without punctuation is cut every MAX_CLAUSE_WORDS words, which bounds the work per clause."""
    out: list[str] = []
    for part in language.clause.split(normalise(text)):
        words = part.split()
        for start in range(0, len(words), MAX_CLAUSE_WORDS):
            out.append(" ".join(words[start : start + MAX_CLAUSE_WORDS]))
    return out


def _negated(language: Language, clause: str, start: int, end: int) -> bool:
    before = _WORD.findall(clause[:start])[-3:]
    after = _WORD.findall(clause[end:])[:1]
    return any(language.negation.fullmatch(word) for word in (*before, *after))


def _clause_levels(language: Language, spec: QuestionCues, clause: str) -> list[tuple[int, str]]:
    """(level, cue) of each cue found in the clause: longest cue first, no overlaps."""
    found = [
        (match.start(), match.end(), cue)
        for cue in spec.cues
        for match in cue.pattern.finditer(clause)
    ]
    found.sort(key=lambda item: (-(item[1] - item[0]), item[0], -item[2].level))
    taken: list[tuple[int, int]] = []
    levels: list[tuple[int, str]] = []
    for start, end, cue in found:
        if any(start < t_end and t_start < end for t_start, t_end in taken):
            continue
        taken.append((start, end))
        if not _negated(language, clause, start, end):
            levels.append((cue.level, cue.phrase))
        elif cue.level > 0:  # "no signs of restlessness": a calm observation
            levels.append((0, f"not {cue.phrase}"))
        # a negated calm cue ("not calm") says nothing definite: ignored
    return levels


def score(
    text: str, *, question_ids: list[str], language: str
) -> tuple[dict[str, int], dict[str, str]]:
    """Scores per question (0-2) and the cue behind each; the requested language's lexicon,
    or, when it finds nothing, the other languages' (the UI language may not be the spoken)."""
    order = [language] + [code for code in LANGUAGES if code != language]
    for code in order:
        table = lexicon()[code]
        parts = clauses(table, text)
        scores: dict[str, int] = {}
        evidence: dict[str, str] = {}
        for question_id in question_ids:
            spec = table.questions.get(question_id)
            if spec is None:
                continue
            best: tuple[int, str] | None = None
            for clause in parts:
                if not any(topic.search(clause) for topic in spec.topic):
                    continue
                for level, phrase in _clause_levels(table, spec, clause):
                    if best is None or level > best[0]:
                        best = (level, phrase)
            if best is not None:
                scores[question_id], evidence[question_id] = best
        if scores:
            return scores, evidence
    return {}, {}


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "\n".join(
        str(part.get("text", ""))
        for part in content
        if isinstance(part, dict) and part.get("type") == "text"
    )


def local_form_analysis(
    *, schema: dict[str, Any], system: str, content: Any, language: str
) -> dict[str, Any]:
    """The `local` provider's function-call arguments for the SERENITY form schema."""
    properties: dict[str, Any] = schema["parameters"]["properties"]
    question_ids = [key for key, spec in properties.items() if "enum" in spec]
    code = LANGUAGE_CODES.get(language, "en")
    scores, evidence = score(_text(content), question_ids=question_ids, language=code)
    unanswered = [q for q in question_ids if q not in scores]
    found = "; ".join(f"{q}={scores[q]} ({evidence[q]!r})" for q in question_ids if q in scores)
    reasoning = (
        "Offline keyword scoring (local provider, no AI model). "
        + (f"Cues found: {found}." if found else "No observation cues found.")
        + (f" No cue for: {', '.join(unanswered)}." if unanswered and found else "")
    )
    return {
        **scores,
        "confidence": round(MAX_CONFIDENCE * len(scores) / max(len(question_ids), 1), 2),
        "unansweredQuestions": unanswered,
        "reasoning": reasoning,
    }
