"""The example workspace: bank-transaction categorization, generated from a seed.

The story. A banking app labels each card transaction with one of ten categories. The
prompt and its golden set were built on classic card-statement strings
(`TESCO STORES 2231 LONDON`). Then a new bank integration went live with another layout
(`POS 24/03 PURCHASE *TESCO-EXP/LND REF8812`) and merchants were renamed on the way
(`TFL TRAVEL CH` became `TfL*Contactless`); accuracy drifted on that traffic. The golden
set carries both cohorts as segments, so every report can show the split.

`generate(root)` writes, deterministically (pure Python `random.Random`, no network):

  evalsets/transactions.jsonl        labeled cases: vars {description, amount, currency,
                                     bank}, expected category, segment
                                     `cohort=established` | `cohort=new-bank-format` (30 %)
  evalsets/transactions-quick.jsonl  a 40-case stratified sample (4 per category, 30 % new
                                     format) for the quickstart on the real local model
  evalsets/merchants.jsonl           a labeled merchant corpus (20 rows per category, 80 %
                                     classic and 20 % new format) for the retrieval index;
                                     none of its texts occurs in the golden set
  prompts/fewshot/categorize.yaml    two examples per category selected from the corpus by
                                     per-label max-min diversity on character n-grams
  prompts/indexes/merchants.yaml     the index definition over the corpus
  evalsets/traffic.jsonl             production traffic that moved: 300 requests in the case
                                     format, half of them in the new bank format, none equal
                                     (by description) to a golden case or a corpus row; its
                                     `expected` is what a simulated user would correct to.
                                     For `driftgate route replay categorize
                                     evalsets/traffic.jsonl --feedback` then `driftgate retrain`:
                                     the golden sets' own rows are never learned from, so
                                     replaying them leaves nothing to retrain on
  evalsets/traffic-later.jsonl       the traffic after that: 300 more requests drawn the same
                                     way, none equal to any of the above, so what a retrained
                                     version is judged on live is not what it learned from

How a case is made. Categories come in fixed quotas (the largest-remainder split of
`CATEGORY_WEIGHTS`, shuffled), so every run has the same class balance; 30 % of the cases,
chosen by shuffle, are in the new bank format. Each case draws a merchant of its category
(popular merchants such as TfL and Tesco more often, see `_bank_data.POPULAR`),
a date in March 2024, an amount from the category's range (income positive, spending
negative) and renders the merchant in its cohort's layout. The corpus uses a second random
stream, so changing `n_cases` leaves it alone unless a corpus text would collide with a
golden-set description (it is then redrawn); the traffic file a fourth (seed + 3), drawn the
same way with `TRAFFIC_NEW_FORMAT_SHARE` of new-format requests and redrawn on collisions.

Regenerate the committed files with `python -m driftgate.examples.bank --root .`; the
test suite checks that the generator reproduces them byte for byte.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._bank_data import (
    AMOUNTS,
    CATEGORIES,
    CATEGORY_WEIGHTS,
    CITIES,
    ESTABLISHED_BANKS,
    MERCHANTS,
    NEW_BANK,
    Merchant,
)

__all__ = ["CATEGORIES", "AS_OF", "NEW_FORMAT_SHARE", "generate", "main", "traffic_requests"]

AS_OF = "2024-04-01"  # fixed "created" date: the files must not change with the clock
NEW_FORMAT_SHARE = 0.30
CORPUS_PER_CATEGORY = 20
CORPUS_NEW_FORMAT_PER_CATEGORY = 4
QUICK_PER_CATEGORY = 4
QUICK_NEW_FORMAT = 12  # of 40 quick cases: the same 30 % share as the full set
FEWSHOT_PER_LABEL = 2
TRAFFIC_REQUESTS = 300
TRAFFIC_NEW_FORMAT_SHARE = 0.5  # the new bank's share grew after launch: traffic that moved

COHORT_ESTABLISHED = "cohort=established"
COHORT_NEW = "cohort=new-bank-format"


# ---- rendering one transaction ---------------------------------------------------------


def _ref(rng: random.Random, n: int, alphabet: str = "0123456789") -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _classic(m: Merchant, rng: random.Random) -> str:
    """Classic card-statement layout (the established banks)."""
    city = rng.choice(CITIES)[0]
    if m.kind == "store":
        if rng.random() < 0.7:
            return f"{m.classic} {rng.randint(1, 9999):04d} {city}"
        return f"{m.classic} {city}"
    if m.kind == "online":
        code = _ref(rng, 6, "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789")
        return f"{m.classic}*{code} {rng.choice(['INTERNET', 'GB', city])}"
    if m.kind == "dd":
        return f"{m.classic} DD {_ref(rng, 6)}"
    if m.kind == "so":
        return f"{m.classic} STO REF {_ref(rng, 5)}"
    return f"{m.classic} BGC {_ref(rng, 6)}"  # credit


def _new_format(m: Merchant, rng: random.Random, day: int) -> str:
    """The new bank integration's layout: transaction-type code, date, renamed merchant."""
    date = f"{day:02d}/03"
    code = rng.choice(CITIES)[1]
    ref = f"REF{_ref(rng, 4)}"
    if m.kind == "store":
        prefix = rng.choice(["POS", "CONTACTLESS"])
        return f"{prefix} {date} PURCHASE *{m.renamed}/{code} {ref}"
    if m.kind == "online":
        return f"CNP {date} {m.renamed} {code} {ref}"
    if m.kind == "dd":
        return f"DDR {m.renamed} MANDATE {_ref(rng, 6)}"
    if m.kind == "so":
        return f"SOP {date} {m.renamed} {ref}"
    return f"FPI {date} FROM {m.renamed} {ref}"  # credit


def _amount(category: str, rng: random.Random) -> float:
    lo, hi = AMOUNTS[category]
    value = round(rng.uniform(lo, hi), 2)
    return value if category == "income" else -value


def _tags(m: Merchant, new_format: bool) -> list[str]:
    tags = [m.kind, "credit" if m.category == "income" else "debit"]
    if new_format and m.renamed.upper().replace("-", " ") != m.classic:
        tags.append("merchant-renamed")
    return tags


# ---- the golden set -------------------------------------------------------------------


def _quotas(total: int) -> list[str]:
    """Category of each case: largest-remainder split of CATEGORY_WEIGHTS (unshuffled)."""
    weight_sum = sum(CATEGORY_WEIGHTS.values())
    exact = {c: total * w / weight_sum for c, w in CATEGORY_WEIGHTS.items()}
    counts = {c: int(v) for c, v in exact.items()}
    by_remainder = sorted(CATEGORIES, key=lambda c: (-(exact[c] - counts[c]), CATEGORIES.index(c)))
    for c in by_remainder[: total - sum(counts.values())]:
        counts[c] += 1
    return [c for c in CATEGORIES for _ in range(counts[c])]


def golden_cases(seed: int, n_cases: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    categories = _quotas(n_cases)
    rng.shuffle(categories)
    n_new = round(n_cases * NEW_FORMAT_SHARE)
    cohorts = [True] * n_new + [False] * (n_cases - n_new)
    rng.shuffle(cohorts)
    return [
        _transaction(rng, f"txn-{i + 1:04d}", category, new_format)
        for i, (category, new_format) in enumerate(zip(categories, cohorts, strict=True))
    ]


def _transaction(
    rng: random.Random, case_id: str, category: str, new_format: bool
) -> dict[str, Any]:
    """One labeled transaction in the case format (the draws' order is part of the files)."""
    merchants = MERCHANTS[category]
    merchant = rng.choices(merchants, weights=[m.weight for m in merchants])[0]
    day = rng.randint(1, 31)
    description = _new_format(merchant, rng, day) if new_format else _classic(merchant, rng)
    bank = NEW_BANK if new_format else rng.choice(ESTABLISHED_BANKS)
    currency = "EUR" if category in ("dining", "transport") and rng.random() < 0.06 else "GBP"
    return {
        "id": case_id,
        "vars": {
            "description": description,
            "amount": _amount(category, rng),
            "currency": currency,
            "bank": bank,
        },
        "expected": category,
        "segment": COHORT_NEW if new_format else COHORT_ESTABLISHED,
        "tags": _tags(merchant, new_format),
        "metadata": {
            "merchant": merchant.key,
            "date": f"2024-03-{day:02d}",
            "format": "pos-v2" if new_format else "classic",
        },
    }


def traffic_requests(
    seed: int,
    exclude: set[str],
    n: int = TRAFFIC_REQUESTS,
    *,
    stream: int = 3,
    prefix: str = "req",
) -> list[dict[str, Any]]:
    """Production requests after the new bank grew: the golden set's class balance, half new
    format, ids `PREFIX-NNNN`, descriptions never in `exclude` (golden set and corpus), drawn
    from random stream `seed + stream` (the later traffic uses another stream)."""
    rng = random.Random(seed + stream)
    categories = _quotas(n)
    rng.shuffle(categories)
    n_new = round(n * TRAFFIC_NEW_FORMAT_SHARE)
    cohorts = [True] * n_new + [False] * (n - n_new)
    rng.shuffle(cohorts)
    seen = set(exclude)
    out = []
    for i, (category, new_format) in enumerate(zip(categories, cohorts, strict=True)):
        for _attempt in range(100):
            row = _transaction(rng, f"{prefix}-{i + 1:04d}", category, new_format)
            if row["vars"]["description"] not in seen:
                break
        else:  # pragma: no cover - needs a pathological seed and a tiny merchant table
            raise RuntimeError(f"could not draw a fresh traffic request for {category}")
        seen.add(row["vars"]["description"])
        out.append(row)
    return out


def quick_sample(cases: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    """4 cases per category, 12 of 40 in the new format, kept in golden-set order.

    The first two categories contribute two new-format cases, the others one; when a
    cohort of a category is too small (tiny golden sets), the other cohort fills in.
    """
    rng = random.Random(seed + 2)
    picked: set[str] = set()
    for i, category in enumerate(CATEGORIES):
        want_new = 2 if i < QUICK_NEW_FORMAT - len(CATEGORIES) else 1
        new = [c["id"] for c in cases if c["expected"] == category and c["segment"] == COHORT_NEW]
        old = [
            c["id"]
            for c in cases
            if c["expected"] == category and c["segment"] == COHORT_ESTABLISHED
        ]
        n_new = min(want_new, len(new), QUICK_PER_CATEGORY)
        n_old = min(QUICK_PER_CATEGORY - n_new, len(old))
        n_new = min(QUICK_PER_CATEGORY - n_old, len(new))
        picked.update(rng.sample(new, n_new))
        picked.update(rng.sample(old, n_old))
    return [c for c in cases if c["id"] in picked]


# ---- the merchant corpus --------------------------------------------------------------


def merchant_corpus(seed: int, exclude: set[str]) -> list[dict[str, Any]]:
    """Balanced labeled corpus; texts never equal a golden-set description."""
    rng = random.Random(seed + 1)
    rows: list[dict[str, Any]] = []
    seen = set(exclude)
    for category in CATEGORIES:
        merchants = MERCHANTS[category]
        for j in range(CORPUS_PER_CATEGORY):
            new_format = j >= CORPUS_PER_CATEGORY - CORPUS_NEW_FORMAT_PER_CATEGORY
            merchant = merchants[j % len(merchants)]  # every merchant appears at least once
            for _attempt in range(100):
                text = (
                    _new_format(merchant, rng, rng.randint(1, 31))
                    if new_format
                    else _classic(merchant, rng)
                )
                if text not in seen:
                    break
            else:  # pragma: no cover - needs a pathological seed and a tiny merchant table
                raise RuntimeError(f"could not draw a fresh corpus text for {merchant.key}")
            seen.add(text)
            source = "lumen-pilot-2024" if new_format else "card-statements-2023"
            rows.append({"id": "", "text": text, "label": category, "source": source})
    rng.shuffle(rows)  # interleave labels so a prefix of the corpus is not one category
    for i, row in enumerate(rows):
        row["id"] = f"m-{i + 1:04d}"
    return rows


# ---- writing --------------------------------------------------------------------------


def _jsonl(rows: Sequence[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def _index_definition() -> str:
    return (
        "# Retrieval index over the labeled merchant corpus (generated by\n"
        "# `python -m driftgate.examples.bank`; prompts reference it as `index: merchants`).\n"
        "name: merchants\n"
        "description: Labeled merchant strings from card statements and the new bank's pilot.\n"
        "corpus: evalsets/merchants.jsonl\n"
        "text_field: text\n"
        "label_field: label\n"
        "embedder: all-MiniLM-L6-v2\n"
        "k: 5\n"
    )


def render_files(seed: int = 7, n_cases: int = 480) -> dict[str, str]:
    """Every generated file as {workspace-relative path: text}; nothing is written."""
    from ..artifacts.fewshot import build_fewshot, save_fewshot

    if n_cases < len(CATEGORIES) * QUICK_PER_CATEGORY:
        raise ValueError(f"n_cases must be ≥ {len(CATEGORIES) * QUICK_PER_CATEGORY}, got {n_cases}")
    cases = golden_cases(seed, n_cases)
    corpus = merchant_corpus(seed, {c["vars"]["description"] for c in cases})
    fewshot = build_fewshot(
        "categorize",
        corpus,
        per_label=FEWSHOT_PER_LABEL,
        strategy="diverse",
        seed=seed,
        description="Two merchant strings per category from the labeled corpus: the most typical "
        "one and the one least like it (per-label max-min diversity on character n-grams).",
        source="evalsets/merchants.jsonl",
        created=AS_OF,
    )
    seen = {c["vars"]["description"] for c in cases} | {r["text"] for r in corpus}
    traffic = traffic_requests(seed, seen)
    import tempfile

    # save_fewshot owns the YAML layout; render through it so both paths agree byte for byte.
    with tempfile.TemporaryDirectory() as tmp:
        fewshot_text = save_fewshot(fewshot, Path(tmp) / "categorize.yaml").read_text(
            encoding="utf-8"
        )
    return {
        "evalsets/transactions.jsonl": _jsonl(cases),
        "evalsets/transactions-quick.jsonl": _jsonl(quick_sample(cases, seed)),
        "evalsets/merchants.jsonl": _jsonl(corpus),
        "prompts/fewshot/categorize.yaml": fewshot_text,
        "prompts/indexes/merchants.yaml": _index_definition(),
        "evalsets/traffic.jsonl": _jsonl(traffic),
        "evalsets/traffic-later.jsonl": _jsonl(
            traffic_requests(
                seed, seen | {r["vars"]["description"] for r in traffic}, stream=4, prefix="later"
            )
        ),
    }


def generate(root: Path | str, seed: int = 7, n_cases: int = 480) -> dict[str, Any]:
    """Write the example workspace's data files under `root`; returns a summary."""
    root = Path(root)
    files = render_files(seed, n_cases)
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="\n")
    cases = [json.loads(line) for line in files["evalsets/transactions.jsonl"].splitlines()]
    segments = {s: sum(c["segment"] == s for c in cases) for s in (COHORT_ESTABLISHED, COHORT_NEW)}
    labels = {label: sum(c["expected"] == label for c in cases) for label in CATEGORIES}
    return {
        "root": str(root),
        "seed": seed,
        "files": sorted(files),
        "cases": len(cases),
        "segments": segments,
        "labels": labels,
        "corpus_rows": files["evalsets/merchants.jsonl"].count("\n"),
        "quick_cases": files["evalsets/transactions-quick.jsonl"].count("\n"),
        "traffic_requests": files["evalsets/traffic.jsonl"].count("\n"),
    }


def check(root: Path | str, seed: int = 7, n_cases: int = 480) -> list[str]:
    """Generated files under `root` that differ from what the generator produces."""
    root = Path(root)
    stale = []
    for rel, text in render_files(seed, n_cases).items():
        path = root / rel
        if not path.is_file() or path.read_bytes() != text.encode("utf-8"):
            stale.append(rel)
    return stale


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m driftgate.examples.bank",
        description="Regenerate the bank-transaction example workspace's data files.",
    )
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="workspace root (default: .)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--cases", type=int, default=480, help="golden-set size (default: 480)")
    parser.add_argument(
        "--check", action="store_true", help="only report files that are out of date"
    )
    args = parser.parse_args(argv)
    if args.check:
        stale = check(args.root, args.seed, args.cases)
        for rel in stale:
            print(f"out of date: {rel}", file=sys.stderr)
        return 1 if stale else 0
    summary = generate(args.root, args.seed, args.cases)
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
