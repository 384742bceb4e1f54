"""Name normalisation: small steps, each testable on one string.

The pipeline, in order (``analyze`` runs all of it):

1. ``nfkc_casefold``: Unicode NFKC (full-width letters, ligatures, compatibility forms) then casefold.
2. ``fold_confusables``: Cyrillic/Greek letters that look like Latin ones, inside a name that is mostly
   Latin, become the Latin letter (``Huаwei`` with a Cyrillic ``а`` is ``huawei``).
3. ``transliterate``: Han characters to pinyin syllables (pypinyin), every other non-Latin script to
   ASCII (anyascii); Latin diacritics are stripped (``Société`` is ``societe``).
4. ``clean_punctuation``: initialisms lose their dots (``A.B.C.`` is ``abc``), ``&`` is ``and``,
   apostrophes vanish, every other punctuation mark separates words.
5. ``tokenize``: words, with number words turned into digits (``first`` and ``1st`` are ``1``).
6. ``classify_tokens``: legal forms (``Co., Ltd.``, ``GmbH``, ``ООО``, ``有限公司``) are replaced by a
   canonical form token; each token gets a kind (core, generic, stop, form, num) that sets its weight.
7. ``phonetic_key``: a consonant skeleton used to rescue transliteration variants.

Nothing here depends on the list being screened, so a score never changes because a list changed.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Final, Literal

from anyascii import anyascii
from pypinyin import lazy_pinyin

from compliance.native import by_constructor

TokenKind = Literal["core", "generic", "stop", "form", "num", "syl", "initial"]

# ---------------------------------------------------------------------------------------------
# 1. Unicode normalisation


def nfkc_casefold(text: str) -> str:
    """NFKC-normalise and casefold; collapse whitespace. ``ＨＵＡＷＥＩ`` -> ``huawei``."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


# ---------------------------------------------------------------------------------------------
# 2. Confusables (homoglyphs)

# Cyrillic and Greek letters that render like a Latin letter (lower case; input is casefolded first).
_CONFUSABLES: Final[dict[str, str]] = {
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p",
    "с": "c", "т": "t", "у": "y", "х": "x", "і": "i", "ї": "i", "ј": "j", "ѕ": "s", "ԁ": "d",
    "ԛ": "q", "ԝ": "w", "һ": "h", "ӏ": "l", "ъ": "b", "ь": "b", "п": "n", "г": "r", "д": "d",
    # Greek
    "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p",
    "τ": "t", "υ": "u", "χ": "x", "ζ": "z", "μ": "u", "ς": "c", "σ": "o", "γ": "y", "ω": "w",
    # Latin lookalikes outside ASCII that NFKC keeps
    "ı": "i", "ɡ": "g", "ɑ": "a",
}  # fmt: skip
_CONFUSABLE_TABLE: Final = str.maketrans(_CONFUSABLES)


@lru_cache(maxsize=8192)
def _is_latin_letter(ch: str) -> bool:
    """(Cached per character: ``unicodedata.name`` is slow, and a name repeats its letters.)"""
    return ch.isalpha() and ("a" <= ch <= "z" or "LATIN" in unicodedata.name(ch, ""))


def fold_confusables(text: str) -> str:
    """Map Cyrillic/Greek lookalikes to Latin inside a name that is mostly Latin.

    A word mixing Latin and lookalike letters is always folded (that is how homoglyph evasion looks).
    A word with no Latin letter is folded only if the whole name is mostly Latin and every letter of
    the word has a Latin lookalike (``Со`` in ``Huawei Со Ltd``); genuine Cyrillic or Greek names are
    left for transliteration (``Владимир`` stays Cyrillic here and becomes ``vladimir`` later).
    """
    if text.isascii():
        return text  # every lookalike in the table is outside ASCII
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return text
    latin = sum(1 for c in letters if _is_latin_letter(c))
    mostly_latin = latin * 2 > len(letters)
    out: list[str] = []
    for word in text.split(" "):
        has_latin = any(_is_latin_letter(c) for c in word)
        lookalike = mostly_latin and bool(word) and all(c in _CONFUSABLES or not c.isalpha() for c in word)
        out.append(word.translate(_CONFUSABLE_TABLE) if has_latin or lookalike else word)
    return " ".join(out)


# ---------------------------------------------------------------------------------------------
# 3. Transliteration

# Han legal-form suffixes are replaced before pinyin so they become canonical form tokens.
_HAN_FORMS: Final[list[tuple[str, str]]] = [
    # generic words are translated, so ``华为技术`` meets ``Huawei Technologies``
    ("集成电路", " integrated circuit "),
    ("微电子", " microelectronics "),
    ("半导体", " semiconductor "),
    ("研究所", " institute "),
    ("研究院", " institute "),
    ("技术", " technology "),
    ("技術", " technology "),
    ("科技", " technology "),
    ("信息", " information "),
    ("电子", " electronic "),
    ("電子", " electronic "),
    ("国际", " international "),
    ("國際", " international "),
    ("产业", " industry "),
    ("工业", " industry "),
    ("智能", " intelligent "),
    ("中心", " center "),
    ("股份有限公司", " co ltd "),
    ("有限责任公司", " co ltd "),
    ("有限責任公司", " co ltd "),
    ("有限公司", " co ltd "),
    ("集团", " group "),
    ("集團", " group "),
    ("公司", " co "),
]
_HAN_RE: Final = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_NON_ASCII_RE: Final = re.compile(r"[^\x00-\x7f]")
_CAMEL_RE: Final = re.compile(r"(?<=[a-z])(?=[A-Z])")


_SYLLABLE_MARK: Final = "\x01"


def _han_to_pinyin(match: re.Match[str]) -> str:
    return " " + " ".join(_SYLLABLE_MARK + s for s in lazy_pinyin(match.group(0))) + " "


def transliterate(text: str) -> str:
    """Latin-script ASCII for any script: Han via pinyin (one token per syllable), others via anyascii.

    ``华为技术有限公司`` -> ``hua wei technology co ltd``; ``Владимир`` -> ``vladimir``; ``Société`` -> ``societe``.
    Pinyin syllables carry a leading ``\\x01`` mark (kept through ``clean_punctuation``) so that
    ``classify_tokens`` can weigh a syllable as half a word; ``strip_marks`` removes it.
    """
    if text.isascii():
        return text
    if _HAN_RE.search(text):
        for han, repl in _HAN_FORMS:
            text = text.replace(han, repl)
        text = _HAN_RE.sub(_han_to_pinyin, text)
    words = []
    for word in text.split(" "):
        if _NON_ASCII_RE.search(word) and not word.startswith(_SYLLABLE_MARK):
            # anyascii writes syllable-based scripts (Hangul, kana) in CamelCase: split syllables.
            words.append(_CAMEL_RE.sub(" ", anyascii(word)))
        else:
            words.append(word)
    return " ".join(words).lower()


# ---------------------------------------------------------------------------------------------
# 4. Punctuation

_INITIALISM_RE: Final = re.compile(r"\b(?:[a-z0-9]\.){2,}[a-z0-9]?\b\.?|\b(?:[a-z0-9]\.)(?=[a-z0-9]\b)")
_APOSTROPHE_RE: Final = re.compile(r"['`´’‘ʼ]")
_NON_WORD_RE: Final = re.compile(r"[^a-z0-9\x01]+")


def clean_punctuation(text: str) -> str:
    """Remove punctuation the way people vary it. Input is lower-case ASCII.

    ``a.b.c. company`` -> ``abc company``; ``p.l.c.`` -> ``plc``; ``at&t`` -> ``at and t``;
    ``bank's`` -> ``banks``; ``coca-cola`` -> ``coca cola``.
    """
    text = text.replace("&", " and ").replace("+", " and ")
    text = _APOSTROPHE_RE.sub("", text)
    if "." in text:  # every initialism has a dot
        text = _INITIALISM_RE.sub(lambda m: m.group(0).replace(".", ""), text)
    return " ".join(_NON_WORD_RE.sub(" ", text).split())


# ---------------------------------------------------------------------------------------------
# 5. Tokens and numbers

_UNITS: Final[dict[str, int]] = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
    "eighth": 8, "ninth": 9, "tenth": 10,
}  # fmt: skip
_TENS: Final[dict[str, int]] = {
    "twenty": 20, "thirty": 30, "forty": 40, "fourty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90,
}  # fmt: skip
_ORDINAL_RE: Final = re.compile(r"^(\d+)(?:st|nd|rd|th)$")


def tokenize(text: str) -> list[str]:
    """Split cleaned text into tokens; number words and ordinals become digits.

    ``brigade forty four`` -> ``["brigade", "44"]``; ``1st international bank`` -> ``["1", "international", "bank"]``.
    """
    out: list[str] = []
    pending_tens: int | None = None
    for raw in text.split():
        m = _ORDINAL_RE.match(raw)
        tok = m.group(1) if m else raw
        if tok in _TENS:
            if pending_tens is not None:
                out.append(str(pending_tens))
            pending_tens = _TENS[tok]
            continue
        if pending_tens is not None:
            if tok in _UNITS and _UNITS[tok] < 10:
                out.append(str(pending_tens + _UNITS[tok]))
                pending_tens = None
                continue
            if tok.isdigit() and len(tok) == 1:
                out.append(str(pending_tens + int(tok)))
                pending_tens = None
                continue
            out.append(str(pending_tens))
            pending_tens = None
        out.append(str(_UNITS[tok]) if tok in _UNITS else tok)
    if pending_tens is not None:
        out.append(str(pending_tens))
    return out


# ---------------------------------------------------------------------------------------------
# 6. Legal forms, stop words, generic words

# Canonical form -> spelled-out variants (as token sequences after steps 1-5). A compact table of our
# own; rigour's org_types.yml was read as a reference for which forms exist, not copied.
_LEGAL_FORMS: Final[dict[str, tuple[str, ...]]] = {
    "llc": (
        "llc", "limited liability company", "limited liability co", "ooo", "o o o", "tov", "too",
        "obshchestvo s ogranichennoy otvetstvennostyu", "obshchestvo s ogranichennoi otvetstvennostiu",
        "obschestvo s ogranichennoy otvetstvennostyu", "sp z oo", "spolka z oo", "srl", "sro", "sarl",
        "societatea cu raspundere limitata", "sociedad de responsabilidad limitada", "doo", "ood", "eood",
        "fz llc", "fzllc", "fzco", "fze", "fzc", "wll", "youxian zeren gongsi",
    ),
    "ltd": ("ltd", "limited", "lda", "ltda", "youxian gongsi", "yugen kaisha", "bhd", "berhad", "sdn bhd"),
    "jsc": (
        "jsc", "joint stock company", "joint stock co", "ojsc", "cjsc", "pjsc", "oao", "zao", "pao", "ao",
        "open joint stock company", "closed joint stock company", "public joint stock company",
        "aktsionernoe obshchestvo", "otkrytoe aktsionernoe obshchestvo", "zakrytoe aktsionernoe obshchestvo",
        "publichnoe aktsionernoe obshchestvo", "aktsionernoye obshchestvo", "pat", "prat", "ad", "jstock co",
        "gufen youxian gongsi", "kabushiki kaisha", "kk", "joint stock",
    ),
    "inc": ("inc", "incorporated"),
    "corp": ("corp", "corporation"),
    "co": ("co", "company", "compania", "cia", "compagnie", "cie", "gongsi"),
    "plc": ("plc", "public limited company"),
    "ag": ("ag", "aktiengesellschaft", "akg"),
    "gmbh": ("gmbh", "gesellschaft mit beschrankter haftung", "gesmbh"),
    "sa": ("sa", "sociedad anonima", "societe anonyme", "spa", "societa per azioni", "sas", "sasu", "saog", "sal"),
    "nv": ("nv", "naamloze vennootschap"),
    "bv": ("bv", "besloten vennootschap", "bvba", "sprl"),
    "lp": ("lp", "limited partnership"),
    "llp": ("llp", "limited liability partnership"),
    "pte": ("pte", "private", "pvt"),
    "pty": ("pty", "proprietary"),
    "ab": ("ab", "aktiebolag"),
    "as": ("as", "aps", "asa", "oy", "oyj"),
    "kg": ("kg", "kommanditgesellschaft", "ohg", "kgaa"),
    "se": ("se", "societas europaea"),
    "kft": ("kft", "zrt", "nyrt"),
    "sl": ("sl", "sociedad limitada"),
}  # fmt: skip

_FORM_PHRASES: Final[dict[tuple[str, ...], str]] = {
    tuple(variant.split()): canon for canon, variants in _LEGAL_FORMS.items() for variant in variants
}
_MAX_FORM_LEN: Final = max(len(k) for k in _FORM_PHRASES)
_FORM_FIRST: Final[frozenset[str]] = frozenset(k[0] for k in _FORM_PHRASES)
# Forms that are also ordinary words or frequent name parts: a form only at the end or start of a name.
_EDGE_ONLY_FORMS: Final[frozenset[tuple[str, ...]]] = frozenset(
    {("as",), ("ad",), ("sa",), ("se",), ("pat",), ("ao",), ("too",), ("private",), ("sal",)}
)

_STOP_TEXT: Final = """
the of and for in on at to by a an de du des la le les el los las da do dos das der die und von zu y et e i
mr mrs ms miss dr prof president prasident monsieur madame sir sheikh shaykh haji hajji mullah
"""
STOP_WORDS: Final[frozenset[str]] = frozenset(_STOP_TEXT.split())
"""Stop words, then titles and honorifics."""

# Words frequent in organisation names: they count, but less than distinctive words.
# Variants map to one canonical spelling so ``Technologies`` meets ``Technology`` and ``Tech``.
_GENERIC_CANON: Final[dict[str, str]] = {
    "technology": "technology", "technologies": "technology", "tech": "technology", "technological": "technology",
    "information": "information", "info": "information",
    "industry": "industry", "industries": "industry", "industrial": "industry", "ind": "industry",
    "international": "international", "intl": "international", "internacional": "international",
    "group": "group", "groups": "group", "gruppe": "group", "grupo": "group", "groupe": "group",
    "holding": "holding", "holdings": "holding",
    "trading": "trading", "trade": "trading",
    "electronic": "electronic", "electronics": "electronic", "electrical": "electronic", "elec": "electronic",
    "science": "science", "sciences": "science", "scientific": "science", "sci": "science",
    "research": "research", "institute": "institute", "institution": "institute", "inst": "institute",
    "development": "development", "dev": "development",
    "engineering": "engineering", "eng": "engineering",
    "system": "system", "systems": "system", "service": "service", "services": "service",
    "solution": "solution", "solutions": "solution",
    "manufacturing": "manufacturing", "mfg": "manufacturing", "manufacture": "manufacturing",
    "global": "global", "import": "import", "export": "export", "enterprise": "enterprise",
    "enterprises": "enterprise", "investment": "investment", "investments": "investment",
    "network": "network", "networks": "network", "communication": "communication",
    "communications": "communication", "center": "center", "centre": "center", "centers": "center",
    "university": "university", "univ": "university", "intelligent": "intelligent", "intelligence": "intelligent",
    "integrated": "integrated", "circuit": "circuit", "circuits": "circuit", "computer": "computer",
    "computing": "computing", "software": "software", "equipment": "equipment", "machinery": "machinery",
    "material": "material", "materials": "material", "energy": "energy", "commercial": "commercial",
    "national": "national", "natl": "national", "logistics": "logistics", "management": "management",
    "capital": "capital", "fund": "fund", "partners": "partners", "trust": "trust",
    "foundation": "foundation", "organization": "organization", "organisation": "organization",
    "association": "association", "society": "society", "academy": "academy", "factory": "factory",
    "plant": "plant", "works": "works", "laboratory": "laboratory", "lab": "laboratory",
    "office": "office", "branch": "branch", "department": "department", "dept": "department",
    "bureau": "bureau", "ministry": "ministry", "division": "division", "design": "design",
    "microelectronics": "microelectronics", "semiconductor": "semiconductor", "semiconductors": "semiconductor",
    "digital": "digital", "device": "device", "devices": "device", "product": "product", "products": "product",
    "supply": "supply", "shipping": "shipping", "general": "general", "bank": "bank", "cloud": "cloud",
}  # fmt: skip

_ROMAN_TEXT: Final = "ii iii iv vi vii viii ix xi xii xiii xiv xv xvi xvii xviii xix xx"
_ROMAN: Final[frozenset[str]] = frozenset(_ROMAN_TEXT.split())

WEIGHTS: Final[dict[TokenKind, float]] = {
    "core": 1.0,
    "generic": 0.5,
    "num": 0.6,
    "stop": 0.2,
    "form": 0.25,
    "syl": 0.5,
    "initial": 0.5,
}
"""Token weights by kind: a distinctive word counts fully, a pinyin syllable is half a word."""


def _spelling(tok: str) -> str:
    """Fold British/American spelling pairs: ``organisation``/``organization``, ``labour``/``labor``."""
    if tok.endswith("isation"):
        return tok[:-7] + "ization"
    if tok.endswith("our") and len(tok) > 5:
        return tok[:-3] + "or"
    return tok


def classify_tokens(tokens: list[str]) -> list[tuple[str, TokenKind]]:
    """Replace legal-form phrases by their canonical token and give every token a kind.

    ``["tactical", "missiles", "corporation", "joint", "stock", "company"]`` ->
    ``[("tactical","core"), ("missiles","core"), ("corp","form"), ("jsc","form")]``.
    """
    out: list[tuple[str, TokenKind]] = []
    i, n = 0, len(tokens)
    while i < n:
        matched = False
        for size in range(min(_MAX_FORM_LEN, n - i) if tokens[i] in _FORM_FIRST else 0, 0, -1):
            phrase = tuple(tokens[i : i + size])
            canon = _FORM_PHRASES.get(phrase)
            if canon is None:
                continue
            if phrase in _EDGE_ONLY_FORMS and n > 1 and 0 < i < n - size:
                continue
            if n == size:  # a name that is only a legal form keeps its words
                continue
            out.append((canon, "form"))
            i += size
            matched = True
            break
        if matched:
            continue
        tok = _spelling(tokens[i])
        if tok.startswith(_SYLLABLE_MARK):
            out.append((tok[1:], "syl"))
        elif len(tok) == 1 and tok.isalpha() and tok not in STOP_WORDS:
            out.append((tok, "initial"))
        elif tok in STOP_WORDS:
            out.append((tok, "stop"))
        elif tok.isdigit() or tok in _ROMAN:
            out.append((tok, "num"))
        elif tok in _GENERIC_CANON:
            out.append((_GENERIC_CANON[tok], "generic"))
        else:
            out.append((tok, "core"))
        i += 1
    return out


# ---------------------------------------------------------------------------------------------
# 7. Phonetic key

_PHONETIC_DIGRAPHS: Final[list[tuple[str, str]]] = [
    ("sch", "s"), ("tch", "c"), ("ch", "c"), ("sh", "s"), ("zh", "j"), ("ph", "f"), ("th", "t"),
    ("kh", "k"), ("gh", "g"), ("ck", "k"), ("dj", "j"), ("dzh", "j"), ("ts", "s"), ("tz", "s"),
    ("ks", "x"), ("qu", "k"), ("wh", "w"),
]  # fmt: skip
_PHONETIC_MAP: Final = str.maketrans(
    {
        "b": "P", "p": "P", "f": "F", "v": "F", "w": "F", "c": "K", "k": "K", "q": "K", "g": "K",
        "x": "K", "s": "S", "z": "S", "d": "T", "t": "T", "j": "J", "l": "L", "r": "R", "m": "M",
        "n": "N", "a": "", "e": "", "i": "", "o": "", "u": "", "y": "", "h": "",
    }
)  # fmt: skip


@lru_cache(maxsize=65536)
def phonetic_key(token: str) -> str:
    """A consonant skeleton: vowels and ``h`` dropped, similar-sounding consonants merged, repeats collapsed.

    Our own compact key (no dependency), built for transliteration variants rather than English
    spelling: ``mohamed``/``muhammad``/``mhmd`` -> ``MT``; ``gazprom``/``gasprom`` -> ``KSPRM``.
    Digits are kept as they are.
    """
    t = token
    for src, dst in _PHONETIC_DIGRAPHS:
        if src in t:
            t = t.replace(src, dst)
    mapped = t.translate(_PHONETIC_MAP)
    out: list[str] = []
    for ch in mapped:
        if not out or out[-1] != ch:
            out.append(ch)
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# The whole pipeline


@dataclass(frozen=True, slots=True)
class NameForm:
    """A name after the pipeline: tokens with their kinds, weights and phonetic keys."""

    original: str
    tokens: tuple[str, ...]
    kinds: tuple[TokenKind, ...]
    weights: tuple[float, ...]
    phonetics: tuple[str, ...]
    total_weight: float

    @property
    def text(self) -> str:
        return " ".join(self.tokens)

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        return by_constructor(self)  # compiled, a frozen dataclass unpickles only through its constructor


def normalize_text(name: str) -> str:
    """Steps 1-4: the cleaned, lower-case ASCII text of a name."""
    text = nfkc_casefold(name)
    text = fold_confusables(text)
    text = transliterate(text)
    return clean_punctuation(text)


_PHONETIC_KINDS: Final = frozenset({"core", "generic", "syl"})


@lru_cache(maxsize=65536)
def analyze(name: str) -> NameForm:
    """Run the whole pipeline on one name (cached: the result is immutable)."""
    classified = classify_tokens(tokenize(normalize_text(name)))
    if not classified:
        return NameForm(name, (), (), (), (), 0)
    tokens = tuple([t for t, _ in classified])
    kinds = tuple([k for _, k in classified])
    weights = tuple([WEIGHTS[k] for k in kinds])
    phonetics = tuple([phonetic_key(t) if k in _PHONETIC_KINDS else t for t, k in classified])
    return NameForm(name, tokens, kinds, weights, phonetics, sum(weights))
