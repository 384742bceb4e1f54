"""Restricted-party screening: list import, name matching, ownership look-through, accepted matches, deltas.

Evidence only: hits (with score, alignment, qualifiers, matcher and list snapshot) and ownership paths
become facts; the ruleset's rules decide outcomes, with the match and review thresholds taken from the
ruleset (``DEFAULT_MATCH_THRESHOLD`` and ``DEFAULT_REVIEW_THRESHOLD`` are the documented defaults it copies).

Typical use by the engine::

    screener = Screener.default()                    # embedded curated Entity List
    hits = screener.screen(party, as_of=txn.date, review_threshold=ruleset_review_threshold)
    refs = screener.list_refs()
    ownership = resolve_listed_ownership(txn, {party_id: policy, ...})
"""

from compliance.screening.accepted import (
    AcceptedMatch,
    DecisionBook,
    create_decision,
    dump_decisions,
    load_decisions,
    parse_decisions,
    party_screened_sha256,
)
from compliance.screening.delta import HitChange, ListDiff, RescreenResult, diff_snapshots, read_parties, rescreen
from compliance.screening.importers import (
    csl_list_id,
    detect_format,
    import_csl,
    import_ofac,
    import_restricted_parties_json,
    load_list,
)
from compliance.screening.index import NameIndex, search_names
from compliance.screening.lists import (
    ListFormatError,
    ListSnapshot,
    dump_yaml_list,
    entry_content_sha256,
    load_yaml_list,
    make_entry,
    parse_review_policy,
    parse_yaml_list,
    summarize,
)
from compliance.screening.matching import NameMatch
from compliance.screening.normalize import (
    NameForm,
    analyze,
    classify_tokens,
    clean_punctuation,
    fold_confusables,
    nfkc_casefold,
    normalize_text,
    phonetic_key,
    tokenize,
    transliterate,
)
from compliance.screening.ownership import AFFILIATE_THRESHOLD, caught_parties, resolve_listed_ownership
from compliance.screening.scorer import SCORER_NAME, SCORER_VERSION, token_similarity
from compliance.screening.screener import (
    COUNTRY_MISMATCH_PENALTY,
    DEFAULT_LIST_PATH,
    DEFAULT_MATCH_THRESHOLD,
    DEFAULT_REVIEW_THRESHOLD,
    Screener,
    load_default_snapshot,
    score_names,
)

__all__ = [
    "AFFILIATE_THRESHOLD",
    "COUNTRY_MISMATCH_PENALTY",
    "DEFAULT_LIST_PATH",
    "DEFAULT_MATCH_THRESHOLD",
    "DEFAULT_REVIEW_THRESHOLD",
    "SCORER_NAME",
    "SCORER_VERSION",
    "AcceptedMatch",
    "DecisionBook",
    "HitChange",
    "ListDiff",
    "ListFormatError",
    "ListSnapshot",
    "NameForm",
    "NameIndex",
    "NameMatch",
    "RescreenResult",
    "Screener",
    "analyze",
    "caught_parties",
    "classify_tokens",
    "clean_punctuation",
    "create_decision",
    "csl_list_id",
    "detect_format",
    "diff_snapshots",
    "dump_decisions",
    "dump_yaml_list",
    "entry_content_sha256",
    "fold_confusables",
    "import_csl",
    "import_ofac",
    "import_restricted_parties_json",
    "load_decisions",
    "load_default_snapshot",
    "load_list",
    "load_yaml_list",
    "make_entry",
    "nfkc_casefold",
    "normalize_text",
    "parse_decisions",
    "parse_review_policy",
    "parse_yaml_list",
    "party_screened_sha256",
    "phonetic_key",
    "read_parties",
    "rescreen",
    "resolve_listed_ownership",
    "score_names",
    "search_names",
    "summarize",
    "token_similarity",
    "tokenize",
    "transliterate",
]
