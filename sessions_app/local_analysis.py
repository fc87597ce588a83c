"""The offline `local` analysis provider: deterministic rules over the lexicon in
data/lexicon.json (English, Czech and German symptom and finding patterns), no AI.

It finds symptoms and findings in the transcript (skipping questions and negated mentions),
scores candidate diagnoses, and answers in the contract's §4.7 shapes. Every diagnosis carries
`evidence`: the transcript segments and character ranges it rests on. Output says it is local
(`provider: "local"` and a label) so nobody mistakes it for a model's judgement.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from sessions_app.icd10 import normalize_code
from sessions_app.languages import Language

LEXICON = Path(__file__).resolve().parent / "data" / "lexicon.json"
PROVIDER = "local"
LABEL: dict[Language, str] = {
    "en": "Local rule-based analysis (offline, no AI): suggestions to verify clinically",
    "cs": "Lokální analýza podle pravidel (offline, bez AI): návrhy k ověření lékařem",
    "de": "Lokale regelbasierte Analyse (offline, ohne KI): Vorschläge zur ärztlichen Prüfung",
}
MIN_PROBABILITY = 0.1
MAX_DIAGNOSES = 6
PRIORITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3}
SEVERE = re.compile(
    r"\b(?:severe|terrible|unbearable|excruciating|silná|silnou|hrozn\w*|stark\w*|heftig\w*|unerträglich\w*)\b"
)
MILD = re.compile(r"\b(?:mild|slight\w*|a bit|mírn\w*|trochu|leicht\w*|etwas)\b")
NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "a": 1, "an": 1,
    "jeden": 1, "jedna": 1, "dva": 2, "dvě": 2, "tři": 3, "čtyři": 4, "pět": 5,
    "ein": 1, "einem": 1, "einer": 1, "zwei": 2, "drei": 3, "vier": 4, "fünf": 5,
}  # fmt: skip
DURATION = re.compile(
    r"(?:for|since|past|last|před|už|asi|seit|vor)\s+(?:about\s+|the\s+)?(\d+|\w+)\s+"
    r"(hour|day|week|month|year|hodin|dn|den|týd|měsí|rok|let|stunde|tag|woche|monat|jahr)\w*"
)
UNITS = {
    "hour": "hours", "hodin": "hours", "stunde": "hours",
    "day": "days", "dn": "days", "den": "days", "tag": "days",
    "week": "weeks", "týd": "weeks", "woche": "weeks",
    "month": "months", "měsí": "months", "monat": "months",
    "year": "years", "rok": "years", "let": "years", "jahr": "years",
}  # fmt: skip
CLAUSE_BREAK = re.compile(r"[,;:]|\b(?:but|although|ale|však|aber|jedoch)\b")
SENTENCE = re.compile(r"[^.!?\n]+[.!?]*")
MG = re.compile(r"(\d+(?:[.,]\d+)?)\s*(?:mg|miligram\w*|milligramm\w*)")

TEXTS: dict[str, dict[Language, str]] = {
    "rationale": {
        "en": "Rule match on the transcript. Key finding: {key}. Supporting: {support}.",
        "cs": "Shoda pravidel s přepisem. Klíčový nález: {key}. Podpůrné: {support}.",
        "de": "Regeltreffer im Transkript. Leitbefund: {key}. Unterstützend: {support}.",
    },
    "none": {"en": "none", "cs": "žádné", "de": "keine"},
    "red_flag": {
        "en": "Red flag: {flag}. Assess urgently before anything else.",
        "cs": "Varovný příznak: {flag}. Nejprve urgentně vyšetřit.",
        "de": "Warnzeichen: {flag}. Vorrangig dringend abklären.",
    },
    "red_flag_rationale": {
        "en": "Stated in the consultation; may indicate a time-critical condition.",
        "cs": "Zaznělo v konzultaci; může jít o časově kritický stav.",
        "de": "Im Gespräch genannt; kann auf einen zeitkritischen Zustand hinweisen.",
    },
    "workup": {
        "en": "Work up {name}: {tests}",
        "cs": "Došetřit {name}: {tests}",
        "de": "{name} abklären: {tests}",
    },
    "workup_rationale": {
        "en": "Highest-ranked candidate from the local rules.",
        "cs": "Nejvýše hodnocená možnost podle lokálních pravidel.",
        "de": "Höchstbewerteter Kandidat der lokalen Regeln.",
    },
    "question_rationale": {
        "en": "Helps confirm or exclude: {names}.",
        "cs": "Pomůže potvrdit nebo vyloučit: {names}.",
        "de": "Hilft zu bestätigen oder auszuschließen: {names}.",
    },
    "generic_onset": {
        "en": "When did it start, and has it changed since?",
        "cs": "Kdy to začalo a změnilo se to od té doby?",
        "de": "Wann hat es begonnen und hat es sich seitdem verändert?",
    },
    "generic_meds": {
        "en": "Which medicines do you take, and do you have any allergies?",
        "cs": "Jaké léky užíváte a máte nějaké alergie?",
        "de": "Welche Medikamente nehmen Sie und haben Sie Allergien?",
    },
    "generic_history": {
        "en": "Have you had any serious illnesses or operations before?",
        "cs": "Měl(a) jste dříve nějaká vážná onemocnění nebo operace?",
        "de": "Hatten Sie früher ernsthafte Erkrankungen oder Operationen?",
    },
    "mentioned": {
        "en": "Mentioned in the consultation",
        "cs": "Zmíněno v konzultaci",
        "de": "Im Gespräch erwähnt",
    },
}


@dataclass(frozen=True)
class Segment:
    """A piece of transcript: its id (a transcript row or chunk) and its text."""

    id: str
    text: str
    speaker: str | None = None


@dataclass(frozen=True)
class Finding:
    feature: str
    segment_id: str
    quote: str
    start: int
    end: int
    negated: bool
    question: bool

    @property
    def present(self) -> bool:
        return not (self.negated or self.question)


@cache
def lexicon() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(LEXICON.read_text(encoding="utf-8"))
    for feature in data["features"].values():
        feature["compiled"] = [re.compile(p) for p in feature["patterns"]]
    for drug in data["drugs"]:
        drug["compiled"] = [re.compile(p) for p in drug["patterns"]]
    data["negation_words"] = {w for words in data["negation"].values() for w in words}
    return data


def _sentences(text: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in SENTENCE.finditer(text) if m.group().strip()]


def _negated(before: str, negations: set[str], after: str = "") -> bool:
    """A negation cue in the same clause: up to five words before the mention, or the two
    words right after it (Czech and German often negate after the noun: "horečku nemám")."""
    clause = CLAUSE_BREAK.split(before)[-1]
    words = re.findall(r"[\w']+", clause)[-5:]
    following = re.findall(r"[\w']+", CLAUSE_BREAK.split(after)[0])[:2]
    return any(word in negations for word in words + following)


def find_findings(segments: Sequence[Segment]) -> list[Finding]:
    """Every lexicon feature mentioned in the transcript, with where it was said."""
    lex = lexicon()
    negations: set[str] = lex["negation_words"]
    findings = []
    for segment in segments:
        lowered = segment.text.lower()
        for s_start, s_end in _sentences(lowered):
            sentence = lowered[s_start:s_end]
            question = sentence.rstrip().endswith("?")
            for fid, feature in lex["features"].items():
                for pattern in feature["compiled"]:
                    match = pattern.search(sentence)
                    if match is None:
                        continue
                    start, end = s_start + match.start(), s_start + match.end()
                    findings.append(
                        Finding(
                            feature=fid,
                            segment_id=segment.id,
                            quote=segment.text[s_start:s_end].strip(),
                            start=start,
                            end=end,
                            negated=_negated(
                                sentence[: match.start()], negations, sentence[match.end() :]
                            ),
                            question=question,
                        )
                    )
                    break
    return findings


def _present(findings: Sequence[Finding]) -> dict[str, list[Finding]]:
    present: dict[str, list[Finding]] = {}
    for finding in findings:
        if finding.present:
            present.setdefault(finding.feature, []).append(finding)
    return present


def _evidence(findings: Sequence[Finding], names: dict[str, str]) -> list[dict[str, Any]]:
    return [
        {
            "transcriptId": f.segment_id,
            "quote": f.quote,
            "start": f.start,
            "end": f.end,
            "finding": names[f.feature],
        }
        for f in findings
    ]


def _name(feature: str, language: Language) -> str:
    return str(lexicon()["features"][feature]["names"][language])


def score_conditions(present: dict[str, list[Finding]], language: Language) -> list[dict[str, Any]]:
    """Candidate diagnoses with a probability, best first (each needs one key finding)."""
    ranked = []
    for condition in lexicon()["conditions"]:
        keys = [k for k in condition["key"] if k in present]
        if not keys:
            continue
        code = normalize_code(condition["code"])
        if code is None:  # the lexicon may only use codes from the shipped table
            continue
        probability = condition["base"]
        used = set(keys)
        for feature, weight in condition["weights"].items():
            if feature in present:
                probability += weight
                used.add(feature)
        for feature, penalty in condition["against"].items():
            if feature in present:
                probability -= penalty
        probability = round(min(max(probability, 0.0), 0.85), 2)
        if probability < MIN_PROBABILITY:
            continue
        support = [f for f in used if f not in keys]
        features = sorted(used, key=lambda f: (f not in keys, f))
        evidence_findings = [f for feature in features for f in present[feature][:2]]
        names = {f: _name(f, language) for f in used}
        ranked.append(
            {
                "condition": condition,
                "keys": keys,
                "diagnosis": {
                    "name": condition["names"][language],
                    "code": code,
                    "origin": "suggestion",
                    "basis": "; ".join(dict.fromkeys(f.quote for f in evidence_findings)),
                    "probability": probability,
                    "supportingSymptoms": [names[f] for f in features],
                    "rationale": TEXTS["rationale"][language].format(
                        key=", ".join(names[k] for k in keys),
                        support=", ".join(names[f] for f in support) or TEXTS["none"][language],
                    ),
                    "evidence": _evidence(evidence_findings, names),
                    "source": PROVIDER,
                },
            }
        )
    ranked.sort(key=lambda c: (-c["diagnosis"]["probability"], c["diagnosis"]["code"]))
    return ranked[:MAX_DIAGNOSES]


def _red_flags(present: dict[str, list[Finding]], language: Language) -> list[dict[str, Any]]:
    flags = []
    for rule in lexicon()["redFlags"]:
        if all(feature in present for feature in rule["all"]):
            found = [f for feature in rule["all"] for f in present[feature][:1]]
            names = {f.feature: _name(f.feature, language) for f in found}
            flags.append({"flag": rule["text"][language], "evidence": _evidence(found, names)})
    return flags


def _medications(segments: Sequence[Segment], language: Language) -> list[dict[str, Any]]:
    negations: set[str] = lexicon()["negation_words"]
    found: dict[str, dict[str, Any]] = {}
    for segment in segments:
        lowered = segment.text.lower()
        for s_start, s_end in _sentences(lowered):
            sentence = lowered[s_start:s_end]
            for drug in lexicon()["drugs"]:
                name = drug["names"][language]
                if name in found:
                    continue
                for pattern in drug["compiled"]:
                    match = pattern.search(sentence)
                    if match and not _negated(sentence[: match.start()], negations):
                        dose = MG.search(sentence)
                        found[name] = {
                            "name": name,
                            "dosage": float(dose.group(1).replace(",", ".")) if dose else 0,
                            "days": "",
                            "days_of_week": [],
                            "time_of_day": "",
                            "origin": "doctor",
                            "purpose": TEXTS["mentioned"][language],
                            "alternatives": [],
                            "evidence": [
                                {
                                    "transcriptId": segment.id,
                                    "quote": segment.text[s_start:s_end].strip(),
                                    "start": s_start + match.start(),
                                    "end": s_start + match.end(),
                                }
                            ],
                            "source": PROVIDER,
                        }
                        break
    return list(found.values())


def _questions(ranked: list[dict[str, Any]], language: Language) -> list[dict[str, Any]]:
    questions: dict[str, dict[str, Any]] = {}
    for candidate in ranked:
        for q in candidate["condition"]["questions"]:
            text = q["text"][language]
            entry = questions.setdefault(
                text,
                {
                    "question": text,
                    "category": q["category"],
                    "intent": q["intent"],
                    "priority": q["priority"],
                    "relatedItems": [],
                    "rationale": "",
                    "expectedAnswers": [],
                    "clinicalPearl": "",
                    "timeframe": q["timeframe"],
                    "source": PROVIDER,
                },
            )
            entry["relatedItems"].append(candidate["diagnosis"]["name"])
    for entry in questions.values():
        entry["rationale"] = TEXTS["question_rationale"][language].format(
            names=", ".join(entry["relatedItems"])
        )
    ordered = sorted(questions.values(), key=lambda q: PRIORITY_ORDER[q["priority"]])[:7]
    for generic in ("generic_onset", "generic_meds", "generic_history"):
        if len(ordered) >= 3:
            break
        ordered.append(
            {
                "question": TEXTS[generic][language],
                "category": "medication_history"
                if generic == "generic_meds"
                else "symptom_characterization",
                "intent": "gather_context",
                "priority": "medium",
                "relatedItems": [],
                "rationale": "",
                "expectedAnswers": [],
                "clinicalPearl": "",
                "timeframe": "same_visit",
                "source": PROVIDER,
            }
        )
    return ordered


def analyze_diagnosis(segments: Sequence[Segment], *, language: Language) -> dict[str, Any]:
    """The §4.7 diagnosis object (plus `redFlags`, `provider`, `label`) from the transcript."""
    present = _present(find_findings(segments))
    ranked = score_conditions(present, language)
    red_flags = _red_flags(present, language)
    treatment: list[dict[str, Any]] = []
    follow_up: dict[str, dict[str, Any]] = {}
    for candidate in ranked:
        condition, diagnosis = candidate["condition"], candidate["diagnosis"]
        if condition["treatment"]:
            treatment.append(
                {
                    "description": condition["treatment"]["text"][language],
                    "origin": "suggestion",
                    "targetDiagnosis": [diagnosis["name"]],
                    "effectiveness": condition["treatment"]["effectiveness"],
                    "source": PROVIDER,
                }
            )
        for item in condition["followUp"]:
            name = item["name"][language]
            entry = follow_up.setdefault(
                name,
                {
                    "type": item["type"],
                    "name": name,
                    "reason": item["reason"][language],
                    "origin": "suggestion",
                    "urgency": item["urgency"],
                    "source": PROVIDER,
                },
            )
            if condition["redFlag"] and red_flags:
                entry["urgency"] = "immediate"
    recommendations = [
        {
            "recommendation": TEXTS["red_flag"][language].format(flag=flag["flag"]),
            "category": "emergency_protocols",
            "priority": "critical",
            "timeframe": "immediate",
            "rationale": TEXTS["red_flag_rationale"][language],
            "implementation": "",
            "expectedOutcome": "",
            "alternatives": [],
            "source": PROVIDER,
        }
        for flag in red_flags
    ]
    if ranked:
        top = ranked[0]
        tests = [item["name"][language] for item in top["condition"]["followUp"]]
        if tests:
            recommendations.append(
                {
                    "recommendation": TEXTS["workup"][language].format(
                        name=top["diagnosis"]["name"], tests=", ".join(tests)
                    ),
                    "category": "diagnostic_workup",
                    "priority": "high",
                    "timeframe": "within_24h",
                    "rationale": TEXTS["workup_rationale"][language],
                    "implementation": "",
                    "expectedOutcome": "",
                    "alternatives": [],
                    "source": PROVIDER,
                }
            )
    return {
        "diagnosis": [c["diagnosis"] for c in ranked],
        "treatment": treatment,
        "followUp": list(follow_up.values()),
        "medication": _medications(segments, language),
        "clarifyingQuestions": _questions(ranked, language),
        "doctorRecommendations": recommendations,
        "signals": [],
        "redFlags": red_flags,
        "provider": PROVIDER,
        "label": LABEL[language],
    }


def _duration(text: str) -> str | None:
    match = DURATION.search(text.lower())
    if not match:
        return None
    unit = next((v for k, v in UNITS.items() if match.group(2).startswith(k)), None)
    return unit


def analyze_transcript(segments: Sequence[Segment], *, language: Language) -> dict[str, Any]:
    """The §4.7 transcript-analysis object: conversation turns, complaint, symptoms."""
    findings = find_findings(segments)
    present = _present(findings)
    features = lexicon()["features"]
    full_text = " ".join(s.text for s in segments)
    overall_duration = _duration(full_text) or "days"
    symptoms = []
    for fid, found in present.items():
        feature = features[fid]
        if not feature["symptom"]:
            continue
        quote = found[0].quote.lower()
        severity = (
            "severe" if SEVERE.search(quote) else "mild" if MILD.search(quote) else "moderate"
        )
        symptoms.append(
            {
                "name": feature["names"][language],
                "duration": _duration(quote) or overall_duration,
                "severity": severity,
                "bodyParts": feature["bodyParts"] or ["body"],
                "evidence": _evidence(found[:2], {fid: feature["names"][language]}),
            }
        )
    conversation = []
    for segment in segments:
        for s_start, s_end in _sentences(segment.text):
            text = segment.text[s_start:s_end].strip()
            speaker = segment.speaker or ("doctor" if text.endswith("?") else "patient")
            conversation.append(
                {"speaker": speaker, "text": text, "stress": "low", "urgency": "low"}
            )
    # findings come in transcript order: the first symptom mentioned is the complaint
    first = next((f for f in findings if f.present and features[f.feature]["symptom"]), None)
    return {
        "isMedicalConversation": bool(symptoms),
        "conversation": conversation,
        "complaint": features[first.feature]["names"][language] if first else "",
        "symptoms": symptoms,
        "provider": PROVIDER,
        "label": LABEL[language],
    }
