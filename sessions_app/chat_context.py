"""What a chat answer rests on, computed from the request itself: the passages of the supplied
context that match the question (a small BM25 over the client's `assembledContext` and
`pageContext.documentsContent`), the body parts named, the English search terms. The
`metadata` frame is built from these, and the offline `local` chat flow answers with them.

Deterministic, no model, no storage: the context arrives in the request and is dropped with it.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from sessions_app.languages import Language

DATA = Path(__file__).resolve().parent / "data" / "chat_terms.json"
TOOLS = ("searchDocuments", "getAssembledContext", "getProfileData", "queryMedicalHistory",
         "getDocumentById")  # fmt: skip
CONTEXT_HEADER = "Medical context:"
DOCUMENT_HEADER = "Document {}:"
MAX_PASSAGE_CHARS = 400
TOP_PASSAGES = 3
MAX_OPTIONS = 4
_WORD = re.compile(r"\w+")
_SENTENCE = re.compile(r"(?<=[.!?;])\s+")
# Function words of the three languages: never query terms.
_STOP = frozenset(
    """the and for are was were has have had with what which who whom this that these those
    from into about your you yours our can could should would will does did not but any all
    how why when where there their them they she his her its been being than then also very
    tell show explain give mean means please just some more most much many my me is it in of
    on to a an be do or if as at by so we i
    jak jaký jaká jaké jsem jsou jste jsi máme mám mít byl byla bylo být pro při pod nad
    ale ani než nebo že aby kde kdy proč co což který která které tento tato toto ten ta to
    mi mě mne můj moje moji mých se si je na ve v z ze do od po za o u k s a i
    der die das den dem des ein eine einer eines und oder aber nicht ist sind war waren
    bin bist hat habe haben mit für von vom zum zur bei aus auf über unter was wie warum
    wann wo wer mein meine meinen meiner mir mich ich sie er es wir ihr ihnen""".split()  # noqa: SIM905 - a word list reads better as text
)
LABEL: dict[Language, str] = {
    "en": "Offline answer: no AI model is connected. This is a keyword search of the records "
    "shared with this chat, not medical advice.",
    "cs": "Offline odpověď: není připojen žádný model AI. Jde o vyhledání klíčových slov "
    "v záznamech sdílených s tímto chatem, nikoli o lékařskou radu.",
    "de": "Offline-Antwort: Es ist kein KI-Modell verbunden. Dies ist eine Stichwortsuche in "
    "den für diesen Chat freigegebenen Unterlagen, keine medizinische Beratung.",
}
TEXTS: dict[Language, dict[str, str]] = {
    "en": {
        "found": "Passages that match your question:",
        "from_document": "Document {}",
        "from_context": "Medical context",
        "nothing": "I found nothing about this in the records shared with this chat.",
        "no_context": "No records were shared with this chat, so I cannot look anything up.",
        "patient": "Please discuss anything that worries you with your doctor.",
        "clinical": "Check these passages against the full records before acting on them.",
        "question": "Which of the shared records is your question about?",
        "question_context": "Your question matched none of the shared records.",
        "tool_reason": "No records were shared with this chat; search them for: {}",
    },
    "cs": {
        "found": "Pasáže, které odpovídají vaší otázce:",
        "from_document": "Dokument {}",
        "from_context": "Lékařský kontext",
        "nothing": "V záznamech sdílených s tímto chatem jsem k tomu nic nenašel.",
        "no_context": "S tímto chatem nebyly sdíleny žádné záznamy, nemohu nic vyhledat.",
        "patient": "Cokoli, co vás znepokojuje, proberte se svým lékařem.",
        "clinical": "Než podle těchto pasáží budete jednat, ověřte je v úplných záznamech.",
        "question": "Kterého ze sdílených záznamů se vaše otázka týká?",
        "question_context": "Vaše otázka neodpovídá žádnému ze sdílených záznamů.",
        "tool_reason": "S chatem nebyly sdíleny žádné záznamy; vyhledat v nich: {}",
    },
    "de": {
        "found": "Abschnitte, die zu Ihrer Frage passen:",
        "from_document": "Dokument {}",
        "from_context": "Medizinischer Kontext",
        "nothing": "In den für diesen Chat freigegebenen Unterlagen habe ich dazu nichts gefunden.",
        "no_context": "Mit diesem Chat wurden keine Unterlagen geteilt; ich kann nichts nachsehen.",
        "patient": "Besprechen Sie alles, was Sie beunruhigt, mit Ihrer Ärztin oder Ihrem Arzt.",
        "clinical": "Prüfen Sie diese Abschnitte an den vollständigen Unterlagen, bevor Sie "
        "handeln.",
        "question": "Um welche der freigegebenen Unterlagen geht es in Ihrer Frage?",
        "question_context": "Ihre Frage passt zu keiner der freigegebenen Unterlagen.",
        "tool_reason": "Mit diesem Chat wurden keine Unterlagen geteilt; darin suchen nach: {}",
    },
}


@dataclass(frozen=True)
class Source:
    """One block of supplied context: a document (`doc_id`) or the assembled context (None)."""

    doc_id: str | None
    text: str


@dataclass(frozen=True)
class Passage:
    doc_id: str | None
    text: str
    score: float


@dataclass(frozen=True)
class Retrieval:
    passages: list[Passage]  # the best matches, best first (score > 0)
    coverage: float  # share of the question's terms found anywhere in the context (0..1)


def _pattern(patterns: Iterable[str]) -> re.Pattern[str]:
    return re.compile(r"(?<!\w)(?:" + "|".join(patterns) + r")(?!\w)", re.IGNORECASE)


@cache
def _terms() -> tuple[list[tuple[str, str, re.Pattern[str]]], list[tuple[str, re.Pattern[str]]]]:
    data = json.loads(DATA.read_text(encoding="utf-8"))
    anatomy = [
        (anatomy_id, spec["term"], _pattern(spec["patterns"]))
        for anatomy_id, spec in data["anatomy"].items()
    ]
    topics = [(term, _pattern(patterns)) for term, patterns in data["topics"].items()]
    return anatomy, topics


def anatomy_references(*texts: str) -> list[str]:
    """The client's anatomy-model ids of the body parts the texts name (data order)."""
    anatomy, _ = _terms()
    return [anatomy_id for anatomy_id, _, rx in anatomy if any(rx.search(t) for t in texts)]


def search_terms(text: str) -> list[str]:
    """English search terms for the client's `searchDocuments` tool: topics, then body parts."""
    anatomy, topics = _terms()
    found = [term for term, rx in topics if rx.search(text)]
    for _, term, rx in anatomy:
        if rx.search(text) and term not in found:
            found.append(term)
    return found


def flatten(value: Any) -> list[str]:
    """Text lines of a JSON value: `key: value` for scalar leaves, in document order."""
    lines: list[str] = []

    def walk(item: Any, key: str) -> None:
        if isinstance(item, dict):
            for name, child in item.items():
                walk(child, str(name))
        elif isinstance(item, list):
            for child in item:
                walk(child, key)
        elif item is not None and str(item).strip():
            text = str(item).strip()
            lines.append(f"{key}: {text}" if key else text)

    walk(value, "")
    return lines


def context_sources(data: dict[str, Any]) -> list[Source]:
    """The request's context blocks: the assembled context, then each supplied document."""
    sources: list[Source] = []
    assembled = data.get("assembledContext")
    if isinstance(assembled, str) and assembled.strip():
        sources.append(Source(None, assembled.strip()))
    elif isinstance(assembled, dict | list) and assembled:
        sources.extend(_assembled_sources(assembled))
    docs = (data.get("pageContext") or {}).get("documentsContent") or []
    for entry in docs if isinstance(docs, list) else []:
        if isinstance(entry, list | tuple) and len(entry) == 2:
            content = entry[1]
            text = content if isinstance(content, str) else "\n".join(flatten(content))
            if text.strip():
                sources.append(Source(_doc_id(entry[0]), text.strip()))
    return sources


def _assembled_sources(assembled: dict[str, Any] | list[Any]) -> list[Source]:
    """The client's AssembledContext: its `relevantDocuments[]` keep their document ids."""
    if not isinstance(assembled, dict):
        return [Source(None, "\n".join(flatten(assembled)))]
    rest = {k: v for k, v in assembled.items() if k != "relevantDocuments"}
    sources = [Source(None, "\n".join(flatten(rest)))] if flatten(rest) else []
    for doc in assembled.get("relevantDocuments") or []:
        if isinstance(doc, dict):
            doc_id = doc.get("documentId") or doc.get("id")
            text = "\n".join(flatten(doc))
            if text:
                sources.append(Source(_doc_id(doc_id) if doc_id else None, text))
    return sources


def _doc_id(value: Any) -> str:
    """A document id as a one-line header can carry it."""
    return " ".join(str(value).split())[:128] or "?"


def _stem(word: str) -> str:
    return word[:6]


def terms_of(text: str) -> list[str]:
    """Content terms: words of 3+ letters that are not function words, crudely stemmed (a
    6-letter prefix copes with Czech and German inflection well enough for retrieval)."""
    words = (w.casefold() for w in _WORD.findall(text))
    return [_stem(w) for w in words if len(w) >= 3 and w not in _STOP and not w.isdigit()]


def _passages_of(source: Source) -> list[tuple[str | None, str]]:
    out: list[tuple[str | None, str]] = []
    for line in source.text.splitlines():
        line = line.strip()
        if not line:
            continue
        if len(line) <= MAX_PASSAGE_CHARS:
            out.append((source.doc_id, line))
            continue
        piece = ""
        for sentence in _SENTENCE.split(line):
            if piece and len(piece) + len(sentence) + 1 > MAX_PASSAGE_CHARS:
                out.append((source.doc_id, piece))
                piece = ""
            piece = f"{piece} {sentence}".strip()
        if piece:
            out.append((source.doc_id, piece[: MAX_PASSAGE_CHARS * 2]))
    return out


def retrieve(question: str, sources: Sequence[Source], top: int = TOP_PASSAGES) -> Retrieval:
    """BM25 (k1 1.2, b 0.75) of the question's terms over the context's lines/sentences."""
    query = list(dict.fromkeys(terms_of(question)))
    units = [p for s in sources for p in _passages_of(s)]
    if not query or not units:
        return Retrieval([], 0.0)
    bags = [Counter(terms_of(text)) for _, text in units]
    avg = sum(sum(b.values()) for b in bags) / len(bags) or 1.0
    df = {t: sum(1 for b in bags if t in b) for t in query}
    scored: list[Passage] = []
    for (doc_id, text), bag in zip(units, bags, strict=True):
        length = sum(bag.values())
        score = 0.0
        for term in query:
            tf = bag.get(term, 0)
            if tf:
                idf = math.log(1 + (len(bags) - df[term] + 0.5) / (df[term] + 0.5))
                score += idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * length / avg))
        if score > 0:
            scored.append(Passage(doc_id, text, round(score, 4)))
    scored.sort(key=lambda p: -p.score)  # stable: equal scores keep document order
    coverage = sum(1 for t in query if df[t]) / len(query)
    return Retrieval(scored[:top], round(coverage, 2))


def document_references(retrieval: Retrieval, sources: Sequence[Source], answer: str) -> list[str]:
    """Documents the answer rests on: those of the matching passages (best first), then any
    supplied document whose id the answer quotes."""
    refs: list[str] = []
    for passage in retrieval.passages:
        if passage.doc_id and passage.doc_id not in refs:
            refs.append(passage.doc_id)
    for source in sources:
        doc_id = source.doc_id
        if doc_id and doc_id not in refs and len(doc_id) >= 4 and doc_id in answer:
            refs.append(doc_id)
    return refs


def _label_of(source: Source) -> str:
    first = source.text.splitlines()[0].strip() if source.text else ""
    return (first[:57] + "…") if len(first) > 60 else first or str(source.doc_id)


def clarifying_questions(
    *, retrieval: Retrieval, sources: Sequence[Source], question: str, language: Language
) -> list[dict[str, Any]]:
    """One question (the client shows one at a time) when the question matched none of two or
    more supplied documents: which one is meant, the documents' first lines as options."""
    docs = [s for s in sources if s.doc_id]
    if retrieval.passages or len(docs) < 2 or not terms_of(question):
        return []
    texts = TEXTS[language]
    digest = hashlib.sha256("\0".join(str(s.doc_id) for s in docs).encode()).hexdigest()[:12]
    return [
        {
            "id": f"clarify-{digest}",
            "question": texts["question"],
            "options": [_label_of(s) for s in docs[:MAX_OPTIONS]],
            "allowCustom": True,
            "multiSelect": False,
            "context": texts["question_context"],
        }
    ]


def tool_calls(
    *, question: str, context_available: bool, tools: Sequence[Any], language: Language
) -> list[dict[str, Any]]:
    """With no context supplied, ask the client (which holds the decrypted records) to run its
    `searchDocuments` tool for the question's topics, when it offers that tool."""
    if context_available or "searchDocuments" not in tools:
        return []
    terms = search_terms(question)
    if not terms:
        return []
    return [
        {
            "name": "searchDocuments",
            "parameters": {"terms": terms, "limit": 10},
            "reason": TEXTS[language]["tool_reason"].format(", ".join(terms)),
        }
    ]


def mentions_tools(answer: str) -> bool:
    return any(name in answer for name in TOOLS)


def local_answer(
    *, mode: str, language: Language, retrieval: Retrieval, context_available: bool
) -> list[str]:
    """The offline chat answer, labelled, as the pieces to stream (one per line)."""
    texts = TEXTS[language]
    lines = [LABEL[language], ""]
    if not context_available:
        lines.append(texts["no_context"])
    elif not retrieval.passages:
        lines.append(texts["nothing"])
    else:
        lines.append(texts["found"])
        for passage in retrieval.passages:
            where = (
                texts["from_document"].format(passage.doc_id)
                if passage.doc_id
                else texts["from_context"]
            )
            lines.append(f"- {where}: “{passage.text}”")
    lines += ["", texts["patient" if mode == "patient" else "clinical"]]
    return [line + "\n" for line in lines]


def sources_from_messages(messages: Sequence[dict[str, Any]]) -> list[Source]:
    """The context blocks as `chat.build_messages` sends them: one system message each,
    headed `Medical context:` or `Document <id>:`."""
    sources: list[Source] = []
    for message in messages[1:]:
        if message.get("role") != "system":
            continue
        header, _, body = str(message.get("content", "")).partition("\n")
        if header == CONTEXT_HEADER:
            sources.append(Source(None, body))
        elif header.startswith("Document ") and header.endswith(":"):
            sources.append(Source(header[len("Document ") : -1], body))
    return sources
