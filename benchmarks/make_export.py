"""Generate a realistic synthetic procurement export, seeded, of any size.

    python benchmarks/make_export.py -n 200000 -o /tmp/export.csv            # flat CSV layout (+ side files)
    python benchmarks/make_export.py -n 1000 -o /tmp/export.jsonl --seed 7   # JSONL transactions

The mix (per transaction, by the seeded RNG):

* fixture patterns (``fixtures/transactions/**/*.json``, the news and boundary cases), re-dated and
  re-numbered, so the export contains the shapes the rules were written for (~5 %);
* real restricted-party names (2022 CSL, 2026 Entity List, when ../shared/data is present) with noise
  (case, punctuation, a dropped legal-form token, a typo) as a purchaser or end user (~3 %);
* clean traffic: catalogue chips and plain GPUs to allied and other destinations, plausible company
  names, one to four order lines (~90 %);
* malformed rows (~2 %): a bad country, an impossible date, a negative or non-numeric quantity, an unknown
  kind, rows of one order that disagree on the date.

CSV output follows docs/batch.md's flat layout; parties with ownership and the remote-access and
financing parts of fixture transactions go to side files beside it (``<stem>.parties.csv``,
``<stem>.remote_access.csv``, ``<stem>.financing.csv``) named in ``<stem>.mapping.yaml``.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import gzip
import json
import random
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"

CHIPS = [
    ("H100 SXM", "NVIDIA"),
    ("H200", "NVIDIA"),
    ("H20", "NVIDIA"),
    ("A100 SXM", "NVIDIA"),
    ("B200", "NVIDIA"),
    ("L40S", "NVIDIA"),
    ("RTX 4090", "NVIDIA"),
    ("GB200 NVL72", "NVIDIA"),
    ("TPU v5e", "Google"),
    ("MI300X", "AMD"),
    ("Gaudi 3", "Intel"),
    ("Xeon 6980P", "Intel"),
    ("Ethernet switch 400G", "Arista"),
]
ALLIES = ["DE", "JP", "GB", "FR", "NL", "KR", "CA", "AU", "IE", "SE", "FI", "DK", "IT", "ES", "TW"]
OTHERS = ["AE", "SA", "IN", "SG", "MY", "TH", "VN", "BR", "MX", "IL", "TR", "ID", "PH", "ZA"]
CONCERN = ["CN", "MO", "HK", "RU", "IR", "BY", "KP"]
STEMS = [
    "Nordic",
    "Atlas",
    "Blue Harbor",
    "Summit",
    "Orion",
    "Pacific",
    "Meridian",
    "Vertex",
    "Aurora",
    "Helix",
    "Quantum Leaf",
    "Silver Fern",
    "Red Rock",
    "Cedar",
    "Polaris",
]
TRADES = ["Compute", "Cloud", "Data Systems", "AI Labs", "Hosting", "Research", "Analytics", "Networks"]
FORMS = {
    "DE": "GmbH",
    "JP": "K.K.",
    "GB": "Ltd",
    "FR": "SAS",
    "NL": "B.V.",
    "SE": "AB",
    "AE": "FZ-LLC",
    "SG": "Pte. Ltd.",
    "MY": "Sdn. Bhd.",
    "CN": "Co., Ltd.",
    "IN": "Pvt. Ltd.",
}
END_USES = ["commercial", "commercial cloud", "ai_training", "research", "hpc"]
COLUMNS = [
    "transaction_id",
    "date",
    "kind",
    "export_from",
    "destination",
    "value_amount",
    "value_currency",
    "end_use",
    "end_use_statement",
    "payment",
    "item_model",
    "item_manufacturer",
    "item_quantity",
    "item_eccn",
    "exporter_name",
    "exporter_country",
    "purchaser_name",
    "purchaser_country",
    "purchaser_headquarters",
    "ultimate_consignee_name",
    "ultimate_consignee_country",
    "end_user_name",
    "end_user_country",
    "end_user_lei",
]
ROLE_COLUMNS = ("exporter", "purchaser", "ultimate_consignee", "end_user")


def listed_names(limit: int = 5000) -> list[tuple[str, str | None]]:
    """(name, ISO country or None) of real listed parties, when the shared lists are present."""
    out: list[tuple[str, str | None]] = []
    csl = SHARED / "csl" / "consolidated.csv.gz"
    if csl.exists():
        with gzip.open(csl, "rt", encoding="utf-8", errors="replace") as handle:
            for row in csv.DictReader(handle):
                if row.get("type") in ("Individual", "Vessel"):
                    continue
                name = (row.get("name") or "").strip()
                if 4 < len(name) < 80:
                    out.append((name, None))
                if len(out) >= limit:
                    break
    rpl = SHARED / "bis_entity_list" / "restricted_parties.json"
    if rpl.exists():
        for entry in json.loads(rpl.read_text(encoding="utf-8"))[:limit]:
            name = (entry.get("name") or {}).get("english")
            if isinstance(name, str) and 4 < len(name) < 80:
                out.append((name, None))
    return out or [("Huawei Technologies Co., Ltd.", "CN"), ("Inspur Group", "CN"), ("Sugon", "CN")]


def noisy(name: str, rng: random.Random) -> str:
    """A name as a clerk might type it: case, punctuation, a dropped legal form, a typo."""
    out = name
    choice = rng.random()
    if choice < 0.25:
        out = out.upper()
    elif choice < 0.45:
        out = out.replace(",", "").replace(".", "")
    elif choice < 0.6:
        for form in (" Co., Ltd.", " Co. Ltd", " Ltd.", " LLC", " Inc.", " Corporation", " Limited"):
            out = out.replace(form, "")
    elif choice < 0.75 and len(out) > 8:
        i = rng.randrange(1, len(out) - 2)
        out = out[:i] + out[i + 1] + out[i] + out[i + 2 :]
    return out.strip() or name


def company(country: str, rng: random.Random) -> str:
    form = FORMS.get(country, "Inc.")
    return f"{rng.choice(STEMS)} {rng.choice(TRADES)} {form}"


def fixtures() -> list[dict[str, Any]]:
    out = []
    for path in sorted((ROOT / "fixtures" / "transactions").rglob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        for txn in data if isinstance(data, list) else [data]:
            if isinstance(txn, dict) and "id" in txn and "date" in txn:
                out.append(txn)
    return out


def random_date(rng: random.Random, start: dt.date, days: int) -> dt.date:
    return start + dt.timedelta(days=rng.randrange(days))


def clean_transaction(n: int, rng: random.Random, start: dt.date, days: int) -> dict[str, Any]:
    r = rng.random()
    dest = rng.choice(ALLIES) if r < 0.6 else rng.choice(OTHERS) if r < 0.93 else rng.choice(CONCERN)
    buyer = company(dest, rng)
    parties: list[dict[str, Any]] = [
        {"id": "exp", "name": "Example Systems Inc.", "roles": ["exporter"], "country": "US", "headquarters": "US"},
        {"id": "buyer", "name": buyer, "roles": ["purchaser", "ultimate_consignee", "end_user"], "country": dest},
    ]
    if rng.random() < 0.15:
        parties[1]["roles"] = ["purchaser"]
        eu_country = dest if rng.random() < 0.8 else rng.choice(OTHERS)
        parties.append(
            {
                "id": "eu",
                "name": company(eu_country, rng),
                "roles": ["ultimate_consignee", "end_user"],
                "country": eu_country,
            }
        )
    items = []
    for i in range(rng.choice((1, 1, 1, 2, 2, 3, 4))):
        model, maker = rng.choice(CHIPS)
        items.append(
            {"id": f"i{i + 1}", "model": model, "manufacturer": maker, "quantity": rng.choice((1, 2, 8, 16, 64, 256))}
        )
    return {
        "id": f"PO-{n:08d}",
        "date": random_date(rng, start, days).isoformat(),
        "kind": "sale",
        "export_from": "US",
        "destination": dest,
        "value": {"amount": float(rng.randrange(10_000, 50_000_000)), "currency": "USD"},
        "end_use": rng.choice(END_USES),
        "parties": parties,
        "items": items,
        "flags": {"end_use_statement": rng.random() < 0.7, "payment": rng.choice(("wire", "wire", "letter_of_credit"))},
    }


def listed_transaction(
    n: int, rng: random.Random, start: dt.date, days: int, names: list[tuple[str, str | None]]
) -> dict[str, Any]:
    txn = clean_transaction(n, rng, start, days)
    name, country = rng.choice(names)
    buyer = txn["parties"][1]
    buyer["name"] = noisy(name, rng)
    if country:
        buyer["country"] = country
        txn["destination"] = country
    return txn


def fixture_transaction(
    n: int, rng: random.Random, start: dt.date, days: int, pool: list[dict[str, Any]]
) -> dict[str, Any]:
    txn: dict[str, Any] = json.loads(json.dumps(rng.choice(pool)))
    txn["id"] = f"PO-{n:08d}"
    if rng.random() < 0.5:
        txn["date"] = random_date(rng, start, days).isoformat()
    return txn


MALFORMED = ("country", "date", "quantity", "kind", "text_quantity", "disagree")


def malformed(txn: dict[str, Any], rng: random.Random) -> tuple[dict[str, Any], str]:
    what = rng.choice(MALFORMED)
    if what == "country":
        txn["destination"] = rng.choice(("XX", "China Mainland", "U.K."))
    elif what == "date":
        txn["date"] = rng.choice(("2025-02-30", "31/12/2025", ""))
    elif what == "quantity":
        txn["items"][0]["quantity"] = -rng.randrange(1, 100)
    elif what == "kind":
        txn["kind"] = "consignment"
    elif what == "text_quantity":
        txn["items"][0]["quantity"] = "twelve"
    return txn, what


def generate(
    count: int, seed: int, start: dt.date = dt.date(2025, 1, 1), days: int = 365
) -> Iterator[tuple[dict[str, Any], str | None]]:
    """(transaction dict, malformation or None), ``count`` of them."""
    rng = random.Random(seed)
    names = listed_names()
    pool = fixtures()
    for n in range(1, count + 1):
        r = rng.random()
        if pool and r < 0.05:
            txn = fixture_transaction(n, rng, start, days, pool)
        elif r < 0.08:
            txn = listed_transaction(n, rng, start, days, names)
        else:
            txn = clean_transaction(n, rng, start, days)
        if rng.random() < 0.02 and txn.get("items"):
            yield malformed(txn, rng)
        else:
            yield txn, None


# ------------------------------------------------------------------------------------------------
# Writing the flat CSV layout


def _simple_parties(txn: dict[str, Any]) -> bool:
    """True when the parties fit the role columns (one party per role, no ownership)."""
    seen: set[str] = set()
    for p in txn.get("parties", []):
        if p.get("owners") or p.get("ultimate_parent") or p.get("aliases"):
            return False
        for role in p["roles"]:
            if role not in ROLE_COLUMNS or role in seen:
                return False
            seen.add(role)
    return True


def csv_rows(txn: dict[str, Any], flaw: str | None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Order lines for the main file, and party rows for the parties side file."""
    base: dict[str, Any] = {
        "transaction_id": txn["id"],
        "date": txn.get("date", ""),
        "kind": txn.get("kind", ""),
        "export_from": txn.get("export_from", ""),
        "destination": txn.get("destination", ""),
        "value_amount": (txn.get("value") or {}).get("amount", ""),
        "value_currency": (txn.get("value") or {}).get("currency", ""),
        "end_use": txn.get("end_use", ""),
        "end_use_statement": (txn.get("flags") or {}).get("end_use_statement", ""),
        "payment": (txn.get("flags") or {}).get("payment", ""),
    }
    side: list[dict[str, Any]] = []
    if _simple_parties(txn):
        for p in txn.get("parties", []):
            for role in p["roles"]:
                base[f"{role}_name"] = p["name"]
                base[f"{role}_country"] = p["country"]
                if role == "purchaser" and p.get("headquarters"):
                    base["purchaser_headquarters"] = p["headquarters"]
                if role == "end_user" and (p.get("identifiers") or {}).get("lei"):
                    base["end_user_lei"] = p["identifiers"]["lei"]
    else:
        for p in txn.get("parties", []):
            side.append(
                {
                    "transaction_id": txn["id"],
                    "party_id": p["id"],
                    "name": p["name"],
                    "roles": "|".join(p["roles"]),
                    "country": p["country"],
                    "headquarters": p.get("headquarters", ""),
                    "aliases": "|".join(p.get("aliases", [])),
                    "lei": (p.get("identifiers") or {}).get("lei", ""),
                    "founded": p.get("founded", ""),
                    "ultimate_parent": p.get("ultimate_parent", ""),
                    "owners": "|".join(
                        f"{o['party']}:{o['share']}" if o.get("share") is not None else o["party"]
                        for o in p.get("owners", [])
                    ),
                }
            )
    rows = []
    for i, item in enumerate(txn.get("items") or [{}]):
        row = dict(base)
        if item:
            row.update(
                item_model=item.get("model", ""),
                item_manufacturer=item.get("manufacturer", ""),
                item_quantity=item.get("quantity", ""),
                item_eccn=item.get("eccn", "") or "",
            )
        if flaw == "disagree" and i == 1:
            row["date"] = "2024-01-01"
        rows.append(row)
    if flaw == "disagree" and len(rows) == 1:
        rows.append({**rows[0], "date": "2024-01-01"})
    return rows, side


def write_csv(path: Path, transactions: Iterator[tuple[dict[str, Any], str | None]]) -> dict[str, int]:
    parties_path = path.with_name(f"{path.stem}.parties.csv")
    grants_path = path.with_name(f"{path.stem}.remote_access.csv")
    financing_path = path.with_name(f"{path.stem}.financing.csv")
    counts = {"transactions": 0, "rows": 0, "malformed": 0}
    with (
        path.open("w", newline="", encoding="utf-8") as main,
        parties_path.open("w", newline="", encoding="utf-8") as parties,
        grants_path.open("w", newline="", encoding="utf-8") as grants,
        financing_path.open("w", newline="", encoding="utf-8") as financing,
    ):
        out = csv.DictWriter(main, COLUMNS, extrasaction="ignore")
        side = csv.DictWriter(
            parties,
            [
                "transaction_id",
                "party_id",
                "name",
                "roles",
                "country",
                "headquarters",
                "aliases",
                "lei",
                "founded",
                "ultimate_parent",
                "owners",
            ],
        )
        gw = csv.DictWriter(grants, ["transaction_id", "lessee", "lessor", "share", "items", "trains_large_model"])
        fw = csv.DictWriter(financing, ["transaction_id", "party", "kind", "amount", "currency", "beneficiary"])
        for w in (out, side, gw, fw):
            w.writeheader()
        for txn, flaw in transactions:
            rows, party_rows = csv_rows(txn, flaw)
            out.writerows(rows)
            side.writerows(party_rows)
            for g in txn.get("remote_access", []):
                gw.writerow(
                    {
                        "transaction_id": txn["id"],
                        "lessee": g["lessee"],
                        "lessor": g["lessor"],
                        "share": g.get("share", ""),
                        "items": "|".join(g.get("items", [])),
                        "trains_large_model": g.get("trains_large_model", ""),
                    }
                )
            for f in txn.get("financing", []):
                fw.writerow(
                    {
                        "transaction_id": txn["id"],
                        "party": f["party"],
                        "kind": f["kind"],
                        "amount": f["amount"],
                        "currency": f.get("currency", "USD"),
                        "beneficiary": f.get("beneficiary", ""),
                    }
                )
            counts["transactions"] += 1
            counts["rows"] += len(rows)
            counts["malformed"] += flaw is not None
    mapping = path.with_name(f"{path.stem}.mapping.yaml")
    mapping.write_text(
        "# Generated by benchmarks/make_export.py: the export already uses the layout's column names.\n"
        "side_files:\n"
        f"  parties: {parties_path.name}\n"
        f"  remote_access: {grants_path.name}\n"
        f"  financing: {financing_path.name}\n",
        encoding="utf-8",
    )
    return counts


def write_jsonl(path: Path, transactions: Iterator[tuple[dict[str, Any], str | None]]) -> dict[str, int]:
    counts = {"transactions": 0, "rows": 0, "malformed": 0}
    with path.open("w", encoding="utf-8") as handle:
        for txn, flaw in transactions:
            if flaw == "disagree":
                handle.write(json.dumps(txn)[:-7] + "\n")  # a truncated line: invalid JSON
            else:
                handle.write(json.dumps(txn) + "\n")
            counts["transactions"] += 1
            counts["rows"] += 1
            counts["malformed"] += flaw is not None
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--count", type=int, default=1000)
    parser.add_argument("-o", "--output", type=Path, required=True, help=".csv (flat layout) or .jsonl")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    transactions = generate(args.count, args.seed)
    if args.output.suffix == ".csv":
        counts = write_csv(args.output, transactions)
    elif args.output.suffix == ".jsonl":
        counts = write_jsonl(args.output, transactions)
    else:
        parser.error("--output must end in .csv or .jsonl")
    print(json.dumps({"output": str(args.output), **counts}), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
