"""A self-contained HTML report for auditors: inline CSS and SVG charts, no script, no network."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from html import escape

from compliance.model import Finding
from compliance.report.summary import OUTCOME_ORDER, ReportData, Row

COLOURS = {
    "error": "#7b1fa2",
    "prohibited": "#b71c1c",
    "license_required": "#e65100",
    "review": "#f9a825",
    "clear": "#2e7d32",
}

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1b1b1b;margin:0;
background:#fafafa}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;margin:32px 0 8px;border-bottom:2px solid #ddd;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}
.muted{color:#666}.cards{display:flex;flex-wrap:wrap;gap:10px;margin:14px 0}
.card{background:#fff;border:1px solid #ddd;border-left:6px solid #999;border-radius:4px;
padding:8px 14px;min-width:120px}
.card b{display:block;font-size:22px}
table{border-collapse:collapse;width:100%;background:#fff;margin:6px 0}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}th{background:#f0f0f0}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.pill{display:inline-block;padding:0 8px;border-radius:10px;color:#fff;font-size:12px;white-space:nowrap}
.charts{display:grid;grid-template-columns:1fr 1fr;gap:16px}
.chart{background:#fff;border:1px solid #ddd;border-radius:4px;padding:8px}
details{background:#fff;border:1px solid #ddd;border-radius:4px;margin:6px 0;padding:6px 10px}
summary{cursor:pointer;font-weight:600}.finding{border-left:4px solid #999;padding:2px 10px;margin:8px 0}
.prov{font-size:12px;color:#444;margin:2px 0 2px 16px}
code{font-size:12px;background:#f3f3f3;padding:0 3px}
@media print{details{break-inside:avoid}details:not([open]) > *:not(summary){display:block}}
"""


def _pill(outcome: str) -> str:
    return f'<span class="pill" style="background:{COLOURS.get(outcome, "#555")}">{escape(outcome)}</span>'


def bar_chart(title: str, bars: Sequence[tuple[str, Counter[str] | int]], *, width: int = 500) -> str:
    """A horizontal (stacked by outcome) bar chart as inline SVG."""
    row_h, label_w, pad = 22, 150, 6
    height = pad * 2 + row_h * max(1, len(bars)) + 18
    totals = [sum(v.values()) if isinstance(v, Counter) else v for _, v in bars]
    peak = max(totals, default=0) or 1
    scale = (width - label_w - 60) / peak
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(title)}" '
        f'viewBox="0 0 {width} {height}" width="100%">',
        f'<text x="0" y="14" font-size="13" font-weight="600">{escape(title)}</text>',
    ]
    for i, ((label, value), total) in enumerate(zip(bars, totals, strict=True)):
        y = 18 + pad + i * row_h
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 15}" font-size="12" text-anchor="end">{escape(label[:24])}</text>'
        )
        x = float(label_w)
        segments = (
            [(o.value, value.get(o.value, 0)) for o in OUTCOME_ORDER] if isinstance(value, Counter) else [("", value)]
        )
        for outcome, count in segments:
            if not count:
                continue
            w = count * scale
            colour = COLOURS.get(outcome, "#1565c0")
            parts.append(
                f'<rect x="{x:.1f}" y="{y + 3}" width="{max(w, 1):.1f}" height="{row_h - 6}" fill="{colour}">'
                f"<title>{escape(label)}: {count} {escape(outcome)}</title></rect>"
            )
            x += w
        parts.append(f'<text x="{x + 4:.1f}" y="{y + 15}" font-size="12">{total}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _finding_html(f: Finding) -> str:
    policy = f" · {escape(f.review_policy.value)}" if f.review_policy else ""
    exceptions = f" · exceptions: {escape(', '.join(f.exceptions))}" if f.exceptions else ""
    conf = " · <b>unconfirmed</b>" if f.confidence == "unconfirmed" else ""
    out = [
        f'<div class="finding" style="border-color:{COLOURS.get(f.outcome.value, "#999")}">',
        f"<div><code>{escape(f.rule_id)}</code> {escape(f.title)} "
        f"{_pill(f.outcome.value)}{policy}{exceptions}{conf}</div>",
        f"<div>Because {escape(f.because)}</div>",
        f'<div class="muted">Citations: {escape("; ".join(f.citations))}'
        + (f" · defined in {escape(f.ruleset)}" if f.ruleset else "")
        + "</div>",
    ]
    for fact in f.facts:
        fields = ", ".join(f"{escape(k)}={escape(str(v))}" for k, v in sorted(fact.fields.items()))
        out.append(f'<div class="prov"><b>{escape(fact.type)} {escape(fact.id)}</b>: {fields}</div>')
        for p in fact.provenance:
            ref = f" [{escape(p.reference)}]" if p.reference else ""
            flag = " (unconfirmed)" if p.confidence == "unconfirmed" else ""
            out.append(f'<div class="prov">↳ {escape(p.source)}: {escape(p.detail)}{ref}{flag}</div>')
    out.append("</div>")
    return "".join(out)


def _rationale(row: Row) -> str:
    det = row.determination
    where = f" · {escape(row.source)}" if row.source else ""
    body = [
        f'<details id="txn-{row.record}"><summary>{escape(det.transaction_id)} {_pill(det.outcome.value)}'
        f'<span class="muted">{where} · as of {det.as_of}</span></summary>'
    ]
    if det.error:
        body.append(f'<div class="finding" style="border-color:{COLOURS["error"]}">Error: {escape(det.error)}</div>')
    body.extend(_finding_html(f) for f in det.findings)
    for f in det.suppressed:
        body.append(f'<div class="muted">Overridden by a declared exception: <code>{escape(f.rule_id)}</code></div>')
    for note in det.accepted_matches:
        body.append(f'<div class="muted">Accepted match: {escape(note)}</div>')
    body.append(
        f'<div class="prov">input sha256 {escape(det.input_sha256[:16] or "—")} · decision {escape(det.decision_id)}'
        f" · ruleset {escape(det.ruleset.id)}@{escape(det.ruleset.version)}</div></details>"
    )
    return "".join(body)


def render_html(data: ReportData, *, max_details: int = 500) -> str:
    """The report as one HTML document (no external resources)."""
    generated = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    action = data.action
    cards = "".join(
        f'<div class="card" style="border-left-color:{COLOURS[o.value]}" data-outcome="{o.value}" '
        f'data-count="{data.by_outcome.get(o.value, 0)}"><span>{o.value}</span>'
        f"<b>{data.by_outcome.get(o.value, 0):,}</b></div>"
        for o in OUTCOME_ORDER
    )
    outcome_bars = [(o.value, data.by_outcome.get(o.value, 0)) for o in OUTCOME_ORDER]
    outcome_chart = bar_chart(
        "Transactions by outcome",
        [(label, Counter({label: n})) for label, n in outcome_bars],
    )
    rules = data.by_rule.most_common(20)
    rule_chart = bar_chart("Findings by rule (top 20)", [(r, Counter({data.rule_outcomes[r]: n})) for r, n in rules])
    dests = sorted(data.by_destination.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))[:20]
    dest_chart = bar_chart("Transactions by destination (top 20)", dests)
    months = sorted(data.by_month.items())
    month_chart = bar_chart("Transactions by month", months)
    rule_rows = "".join(
        f'<tr data-rule="{escape(r)}"><td><code>{escape(r)}</code></td><td>{escape(data.rule_titles[r])}</td>'
        f'<td>{_pill(data.rule_outcomes[r])}</td><td class="n">{n:,}</td></tr>'
        for r, n in data.by_rule.most_common()
    )
    action_rows = "".join(
        f'<tr data-outcome="{r.determination.outcome.value}"><td class="n">{r.record}</td>'
        f'<td><a href="#txn-{r.record}">{escape(r.determination.transaction_id)}</a></td>'
        f"<td>{_pill(r.determination.outcome.value)}</td><td>{escape(r.destination or '—')}</td>"
        f"<td>{escape(r.date or r.determination.as_of.isoformat())}</td>"
        f"<td>{escape(', '.join(r.determination.fired_rule_ids()) or (r.determination.error or '')[:120])}</td>"
        f"<td>{escape(r.source or '—')}</td></tr>"
        for r in action[: max_details * 4]
    )
    more_rows = (
        f'<p class="muted">{len(action) - max_details * 4:,} more not listed; see {escape(data.source)}.</p>'
        if len(action) > max_details * 4
        else ""
    )
    details = "".join(_rationale(r) for r in action[:max_details])
    more_details = (
        f'<p class="muted">Rationale shown for the first {max_details:,} of {len(action):,} transactions '
        f"needing action; every determination in {escape(data.source)} carries its own.</p>"
        if len(action) > max_details
        else ""
    )
    provenance = "".join(
        f"<li>Ruleset {escape(k)}: {n:,} determinations</li>" for k, n in sorted(data.rulesets.items())
    )
    provenance += "".join(f"<li>List {escape(k)}: {escape(v)}</li>" for k, v in sorted(data.lists.items()))
    provenance += "".join(f"<li>Engine {escape(k)}: {n:,}</li>" for k, n in sorted(data.engines.items()))
    errors = ", ".join(f"{n:,} {escape(k)}" for k, n in sorted(data.errors_by_kind.items())) or "none"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="compliance report">
<title>{escape(data.title)}</title><style>{CSS}</style></head>
<body><main>
<header><h1>{escape(data.title)}</h1>
<p class="muted">Source: {escape(data.source)} · generated {generated} · the rules as encoded find these outcomes;
this is not legal advice.</p></header>
<section id="summary" data-total="{data.total}"><h2>Summary</h2>
<p><b>{data.total:,}</b> transactions screened; <b>{len(action):,}</b> need action; errors: {errors}.</p>
<div class="cards">{cards}</div></section>
<section id="charts"><h2>Totals</h2><div class="charts">
<div class="chart" id="by-outcome">{outcome_chart}</div>
<div class="chart" id="by-rule">{rule_chart}</div>
<div class="chart" id="by-destination">{dest_chart}</div>
<div class="chart" id="by-month">{month_chart}</div>
</div></section>
<section id="rules"><h2>Findings by rule</h2>
<table><thead><tr><th>rule</th><th>title</th><th>outcome</th><th>findings</th></tr></thead>
<tbody>{rule_rows}</tbody></table></section>
<section id="action" data-count="{len(action)}"><h2>Transactions needing action</h2>
<table><thead><tr><th>#</th><th>transaction</th><th>outcome</th><th>destination</th><th>date</th>
<th>rules / error</th><th>input</th></tr></thead><tbody>{action_rows}</tbody></table>{more_rows}</section>
<section id="rationale"><h2>Rationale, citations and provenance</h2>{more_details}{details}</section>
<section id="provenance"><h2>Provenance of this run</h2><ul>{provenance}</ul></section>
</main></body></html>
"""
