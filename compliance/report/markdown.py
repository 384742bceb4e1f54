"""A Markdown summary of a batch: totals, rules, destinations, months and what needs action."""

from __future__ import annotations

from compliance.report.summary import OUTCOME_ORDER, ReportData


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(data: ReportData, *, max_rows: int = 100) -> str:
    lines = [f"# {data.title}", "", f"Source: `{data.source}`. {data.total:,} transactions screened.", ""]
    lines += ["## By outcome", "", "| outcome | transactions |", "|---|---:|"]
    lines += [f"| {o.value} | {data.by_outcome.get(o.value, 0):,} |" for o in OUTCOME_ORDER]
    lines += ["", "## By rule", "", "| rule | title | outcome | findings |", "|---|---|---|---:|"]
    lines += [
        f"| `{r}` | {_cell(data.rule_titles[r])} | {data.rule_outcomes[r]} | {n:,} |"
        for r, n in data.by_rule.most_common()
    ]
    lines += ["", "## By destination", "", "| destination | total | " + " | ".join(o.value for o in OUTCOME_ORDER)]
    lines[-1] += " |"
    lines.append("|---|---:|" + "---:|" * len(OUTCOME_ORDER))
    for dest, counts in sorted(data.by_destination.items(), key=lambda kv: (-sum(kv[1].values()), kv[0])):
        cells = " | ".join(f"{counts.get(o.value, 0):,}" for o in OUTCOME_ORDER)
        lines.append(f"| {dest} | {sum(counts.values()):,} | {cells} |")
    lines += ["", "## By month", "", "| month | total | " + " | ".join(o.value for o in OUTCOME_ORDER) + " |"]
    lines.append("|---|---:|" + "---:|" * len(OUTCOME_ORDER))
    for month, counts in sorted(data.by_month.items()):
        cells = " | ".join(f"{counts.get(o.value, 0):,}" for o in OUTCOME_ORDER)
        lines.append(f"| {month} | {sum(counts.values()):,} | {cells} |")
    action = data.action
    lines += ["", f"## Needing action ({len(action):,})", ""]
    lines += ["| # | transaction | outcome | rules / error | input |", "|---:|---|---|---|---|"]
    for row in action[:max_rows]:
        det = row.determination
        what = ", ".join(f"`{r}`" for r in det.fired_rule_ids()) or _cell((det.error or "")[:120])
        lines.append(
            f"| {row.record} | {_cell(det.transaction_id)} | {det.outcome.value} | {what} | {_cell(row.source or '')} |"
        )
    if len(action) > max_rows:
        lines.append(f"\n{len(action) - max_rows:,} more in `{data.source}`.")
    lines += ["", "## Provenance", ""]
    lines += [f"- ruleset {k}: {n:,} determinations" for k, n in sorted(data.rulesets.items())]
    lines += [f"- list {k}: {v}" for k, v in sorted(data.lists.items())]
    lines += [f"- engine {k}: {n:,}" for k, n in sorted(data.engines.items())]
    return "\n".join(lines) + "\n"
