"""The stream report: one self-contained HTML file that shows what the stream detected and why.

A person should not have to open detection CSVs to see what happened: the report plots the
detections over the chunks, the busiest merchants, the latency and the rows, and lists every
detection with its evidence. Everything is embedded (PNG data URIs, inline style and script), so
the file opens offline, from disk, mailed or archived, and never fetches anything.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg

from txn_assets.lib.rules import ACTION_TYPES
from txn_assets.lib.state.queries import files as files_q
from txn_assets.lib.state.queries import report as q
from txn_assets.lib.stream_summary import ChunkTiming, StreamSummary, chunk_timings, read_summary
from txn_assets.lib.timefmt import format_ist, utc_now

if TYPE_CHECKING:  # imported when a report is drawn: loading the definitions stays cheap
    from matplotlib.figure import Figure

REPORT_FILE_NAME = "stream-report.html"
TOP_MERCHANTS = 15
PAGE_SIZE = 50
# One colour per ActionType, the same in every plot.
PATTERN_COLOURS = {"UPGRADE": "#1f77b4", "CHILD": "#ff7f0e", "DEI-NEEDED": "#2ca02c"}

Evidence = dict[str, int | Decimal]


@dataclass(frozen=True)
class ReportDetection:
    """A detection with its evidence (None when emitted before evidence was stored)."""

    seq: int
    chunk_index: int
    pattern_id: str
    action_type: str
    customer: str
    merchant: str
    detected_at: datetime
    evidence: Evidence | None


@dataclass(frozen=True)
class ChunkRows:
    """One ledger chunk: its rows, quarantined rows and new detections per ActionType."""

    index: int
    status: str
    valid_rows: int
    quarantined_rows: int
    detections: dict[str, int]


@dataclass(frozen=True)
class StreamReport:
    """Everything the report shows, read from the state database in one go."""

    summary: StreamSummary
    rules: dict[str, str]  # the stream's thresholds as stored (empty before the first chunk)
    y_start_time: datetime | None
    detections: list[ReportDetection]
    chunks: list[ChunkRows]
    timings: list[ChunkTiming]
    top_merchants: list[tuple[str, dict[str, int]]]
    generated_at: datetime = field(default_factory=utc_now)

    def headline(self) -> list[tuple[str, str]]:
        """The figures at the top of the report (and of the asset's metadata), as label, value."""
        s = self.summary
        latency = (
            f"p50 {s.latency_p50:.2f} s, p95 {s.latency_p95:.2f} s"
            if s.latency_p50 is not None and s.latency_p95 is not None
            else "n/a"
        )
        return [
            ("chunks", f"{s.chunks:,} ({s.rejected_chunks:,} rejected)"),
            ("rows", f"{s.valid_rows:,}"),
            ("quarantined rows", f"{s.quarantined_rows:,}"),
            *((f"detections {name}", f"{n:,}") for name, n in s.detections.items()),
            ("detections", f"{sum(s.detections.values()):,}"),
            ("detection files", f"{s.files:,}"),
            ("latency staged → committed", latency),
        ]

    def detections_markdown(self) -> str:
        """Detections by pattern as a markdown table (the asset's metadata)."""
        ids = {action: f"PatId{n}" for n, action in enumerate(ACTION_TYPES, start=1)}
        lines = ["| pattern | action | detections |", "|---|---|---|"]
        lines += [f"| {ids[a]} | {a} | {n:,} |" for a, n in self.summary.detections.items()]
        lines.append(f"| all | | {sum(self.summary.detections.values()):,} |")
        return "\n".join(lines)


def _evidence(text: str | None) -> Evidence | None:
    # Decimals, not floats: the report shows the numbers exactly as they were stored.
    return None if text is None else json.loads(text, parse_float=Decimal)


def read_report(conn: psycopg.Connection[Any], top_merchants: int = TOP_MERCHANTS) -> StreamReport:
    """What the report shows, from the ledger and the detections (reuses the run's summary)."""
    files = int(conn.execute(files_q.FILE_TOTALS).fetchone()[0])  # type: ignore[index]
    summary = read_summary(conn, files)
    rules_text, y_start_time = conn.execute(q.STREAM).fetchone() or (None, None)
    detections = [
        ReportDetection(seq, chunk, pattern, action, customer, merchant, at, _evidence(evidence))
        for seq, chunk, pattern, action, customer, merchant, at, evidence in conn.execute(
            q.DETECTIONS
        )
    ]
    new: dict[int, dict[str, int]] = {}
    for chunk, action, n in conn.execute(q.DETECTIONS_PER_CHUNK):
        new.setdefault(chunk, dict.fromkeys(ACTION_TYPES, 0))[action] = int(n)
    chunks = [
        ChunkRows(index, status, valid, quarantined, new.get(index, dict.fromkeys(ACTION_TYPES, 0)))
        for index, status, valid, quarantined in conn.execute(q.CHUNK_ROWS)
    ]
    merchants: dict[str, dict[str, int]] = {}
    for merchant, action, n, _ in conn.execute(q.TOP_MERCHANTS, {"limit": top_merchants}):
        merchants.setdefault(merchant, dict.fromkeys(ACTION_TYPES, 0))[action] = int(n)
    conn.commit()
    return StreamReport(
        summary=summary,
        rules=json.loads(rules_text) if rules_text else {},
        y_start_time=y_start_time,
        detections=detections,
        chunks=chunks,
        timings=chunk_timings(conn),
        top_merchants=list(merchants.items()),
    )


# --- plots ------------------------------------------------------------------------------------


def _png(draw: Callable[[Figure], None], height: float = 3.6) -> str:
    """A figure drawn by `draw` as a base64 PNG data URI (matplotlib's Agg canvas, no pyplot)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9.5, height), dpi=100, layout="constrained")
    draw(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _integer_axis(axis: Any) -> None:
    """Chunks and row counts are whole numbers: no 2.5 on their axis."""
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def _nothing(figure: Figure, title: str) -> None:
    ax = figure.subplots()
    ax.set_title(title)
    ax.text(0.5, 0.5, "no data yet", ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()


def _plot_cumulative(report: StreamReport) -> Callable[[Figure], None]:
    title = "Detections by pattern, cumulative over chunks"

    def draw(figure: Figure) -> None:
        if not report.chunks:
            return _nothing(figure, title)
        ax = figure.subplots()
        x = [c.index for c in report.chunks]
        for action in ACTION_TYPES:
            total, ys = 0, []
            for c in report.chunks:
                total += c.detections[action]
                ys.append(total)
            ax.plot(x, ys, marker=".", label=action, color=PATTERN_COLOURS[action])
        _integer_axis(ax.xaxis)
        ax.set(title=title, xlabel="chunk", ylabel="detections")
        ax.legend(loc="upper left")
        ax.grid(alpha=0.3)

    return draw


def _plot_top_merchants(report: StreamReport) -> Callable[[Figure], None]:
    title = f"Top {len(report.top_merchants)} merchants by detections"

    def draw(figure: Figure) -> None:
        if not report.top_merchants:
            return _nothing(figure, "Top merchants by detections")
        ax = figure.subplots()
        names = [m for m, _ in report.top_merchants][::-1]  # the most at the top
        left = [0] * len(names)
        for action in ACTION_TYPES:
            counts = [dict(report.top_merchants)[m][action] for m in names]
            ax.barh(names, counts, left=left, label=action, color=PATTERN_COLOURS[action])
            left = [a + b for a, b in zip(left, counts, strict=True)]
        for y, total in enumerate(left):  # a merchant with one detection is still readable
            ax.annotate(f" {total}", (total, y), va="center", fontsize=8)
        ax.set_xlim(0, max(left) * 1.1)
        ax.set(title=title, xlabel="detections")
        ax.legend(loc="lower right")
        ax.grid(axis="x", alpha=0.3)

    return draw


def _plot_latency(report: StreamReport) -> Callable[[Figure], None]:
    title = "Latency per chunk: staged → detections committed"

    def draw(figure: Figure) -> None:
        if not report.timings:
            return _nothing(figure, title)
        ax = figure.subplots()
        latencies = [t.latency for t in report.timings]
        ax.plot([t.index for t in report.timings], latencies, ".-", label="latency")
        s = report.summary
        for value, name, style in ((s.latency_p50, "p50", "--"), (s.latency_p95, "p95", ":")):
            if value is not None:
                ax.axhline(value, linestyle=style, color="grey", label=f"{name} {value:.2f} s")
        ax.set(title=title, xlabel="chunk", ylabel="seconds")
        ax.set_ylim(0, max(latencies) * 1.3 or 1)  # room for the legend above the line
        _integer_axis(ax.xaxis)
        ax.legend(loc="upper left", ncols=3)
        ax.grid(alpha=0.3)

    return draw


def _plot_rows(report: StreamReport) -> Callable[[Figure], None]:
    title = "Rows and quarantined rows per chunk"

    def draw(figure: Figure) -> None:
        if not report.chunks:
            return _nothing(figure, title)
        ax = figure.subplots()
        x = [c.index for c in report.chunks]
        ax.bar(x, [c.valid_rows for c in report.chunks], color="#8da0cb", label="rows")
        ax.set(title=title, xlabel="chunk", ylabel="rows")
        # Quarantined rows are a few per chunk at most: their own axis keeps them visible.
        right = ax.twinx()
        right.plot(
            x,
            [c.quarantined_rows for c in report.chunks],
            "o-",
            color="#d62728",
            label="quarantined",
        )
        right.set_ylabel("quarantined rows")
        right.set_ylim(0, max(1, *(c.quarantined_rows for c in report.chunks)) * 1.2)
        _integer_axis(right.yaxis)
        _integer_axis(ax.xaxis)
        for c in report.chunks:
            if c.status == "rejected":
                ax.axvline(c.index, color="#d62728", alpha=0.3)
        handles = ax.get_legend_handles_labels()
        extra = right.get_legend_handles_labels()
        ax.legend(handles[0] + extra[0], handles[1] + extra[1], loc="lower left")

    return draw


# --- HTML -------------------------------------------------------------------------------------


def _number(value: int | Decimal) -> str:
    """A stored number as it was stored (no rounding in the report)."""
    return str(value)


def _percent(rules: dict[str, str], name: str) -> str:
    value = rules.get(name)
    return f" (p{(Decimal(value) * 100).normalize():f})" if value else ""


def describe_evidence(detection: ReportDetection, rules: dict[str, str]) -> str:
    """The evidence in words, with the thresholds of the stream's rules where they are known."""
    e = detection.evidence
    if not e:
        return "not recorded (emitted before evidence was stored)"
    n = {k: _number(v) for k, v in e.items()}
    if detection.action_type == "UPGRADE":
        return (
            f"txns {n['txn_count']} ≥ cut {n['count_cut']}"
            f"{_percent(rules, 'upgrade_count_percentile')}; "
            f"weight {n['weight']} ≤ cut {n['weight_cut']}"
            f"{_percent(rules, 'upgrade_weight_percentile')}; "
            f"merchant txns {n['merchant_txns']}"
            + (f" > {rules['upgrade_min_merchant_txns']}" if rules else "")
        )
    if detection.action_type == "CHILD":
        return (
            f"txns {n['txn_count']}" + (f" ≥ {rules['child_min_txns']}" if rules else "") + "; "
            f"mean amount {n['mean_amount']}"
            + (f" < {rules['child_max_mean_amount']}" if rules else "")
            + f" (sum {n['amount_sum']})"
        )
    if detection.action_type == "DEI-NEEDED":
        return (
            f"female customers {n['female_customers']}"
            + (f" > {rules['dei_min_female_customers']}" if rules else "")
            + f" and < male customers {n['male_customers']}; customers {n['customers']}"
        )
    return ", ".join(f"{k} {v}" for k, v in n.items())


_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:1000px;
padding:0 1em;color:#222}
h1{margin-bottom:.2em} .sub{color:#666;margin-top:0}
table{border-collapse:collapse;font-size:14px}
th,td{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
table.detections td{white-space:nowrap} table.detections td.evidence{white-space:normal}
table.headline td:last-child{font-weight:600}
table.detections{width:100%} table.detections th{cursor:pointer;user-select:none;
background:#f4f4f4;position:sticky;top:0} td.num{text-align:right;font-variant-numeric:tabular-nums}
img{max-width:100%;display:block;margin:1em 0}
.pager{margin:.6em 0} .pager button{margin-right:.4em}
"""

# Sorts by a clicked column (again: reverse) and shows one page at a time; without script every
# row is simply shown.
_SCRIPT = """
(function(){
  var table=document.getElementById('detections'), body=table.tBodies[0];
  var rows=Array.prototype.slice.call(body.rows), size=%(page_size)d, page=0, col=-1, asc=true;
  var info=document.getElementById('page-info'), filter=document.getElementById('filter');
  function shown(){var f=filter.value.toLowerCase();
    return rows.filter(function(r){return !f||r.textContent.toLowerCase().indexOf(f)>=0;});}
  function render(){var list=shown(), pages=Math.max(1,Math.ceil(list.length/size));
    page=Math.min(page,pages-1);
    rows.forEach(function(r){r.style.display='none';});
    list.forEach(function(r,i){body.appendChild(r);
      if(i>=page*size&&i<(page+1)*size){r.style.display='';}});
    info.textContent='page '+(page+1)+' of '+pages+' ('+list.length+' detections)';}
  function key(r,c){var v=r.cells[c].getAttribute('data-sort')||r.cells[c].textContent;
    var n=parseFloat(v);return isNaN(n)||r.cells[c].className!=='num'?v:n;}
  Array.prototype.forEach.call(table.tHead.rows[0].cells,function(th,c){
    th.addEventListener('click',function(){asc=(col===c)?!asc:true;col=c;
      rows.sort(function(a,b){var x=key(a,c),y=key(b,c);return (x<y?-1:x>y?1:0)*(asc?1:-1);});
      page=0;render();});});
  document.getElementById('prev').addEventListener('click',function(){page=Math.max(0,page-1);render();});
  document.getElementById('next').addEventListener('click',function(){page+=1;render();});
  filter.addEventListener('input',function(){page=0;render();});
  document.getElementById('pager').style.display='';
  render();
})();
"""


def _detection_rows(report: StreamReport) -> list[str]:
    rows = []
    for d in report.detections:
        cells = [
            f'<td class="num">{d.seq}</td>',
            f'<td class="num">{d.chunk_index}</td>',
            f"<td>{html.escape(d.pattern_id)}</td>",
            f"<td>{html.escape(d.action_type)}</td>",
            f"<td>{html.escape(d.customer)}</td>",
            f"<td>{html.escape(d.merchant)}</td>",
            f'<td class="evidence">{html.escape(describe_evidence(d, report.rules))}</td>',
        ]
        rows.append(f'<tr class="detection">{"".join(cells)}</tr>')
    return rows


def render_report(report: StreamReport, page_size: int = PAGE_SIZE) -> str:
    """The report as one HTML document: no external resource, nothing fetched when viewed."""
    headline = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in report.headline()
    )
    plots = "".join(
        f'<img alt="{html.escape(alt)}" src="{_png(draw, height)}">'
        for alt, draw, height in (
            ("detections per chunk by pattern, cumulative", _plot_cumulative(report), 3.6),
            ("top merchants by detections", _plot_top_merchants(report), 4.4),
            ("latency per chunk", _plot_latency(report), 3.6),
            ("rows and quarantined rows per chunk", _plot_rows(report), 3.6),
        )
    )
    started = format_ist(report.y_start_time) if report.y_start_time else "not started"
    rules = ", ".join(f"{k} {v}" for k, v in sorted(report.rules.items())) or "not fixed yet"
    header = "".join(
        f"<th>{name}</th>"
        for name in ("seq", "chunk", "pattern", "action", "customer", "merchant", "evidence")
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>txn-assets stream report</title><style>{_STYLE}</style></head>
<body>
<h1>Stream report</h1>
<p class="sub">Mechanism Y started {html.escape(started)}; report written
{html.escape(format_ist(report.generated_at))}. Thresholds: {html.escape(rules)}.</p>
<h2>Headline</h2>
<table class="headline">{headline}</table>
<h2>Plots</h2>
{plots}
<h2>Detections</h2>
<p>Every detection once, in detection order, with the numbers that made it true at the chunk that
emitted it. Click a column to sort.</p>
<div class="pager" id="pager" style="display:none">
<button id="prev" type="button">previous</button><button id="next" type="button">next</button>
<span id="page-info"></span>
<input id="filter" type="search" placeholder="filter (merchant, customer, pattern ...)">
</div>
<table class="detections" id="detections"><thead><tr>{header}</tr></thead>
<tbody>
{chr(10).join(_detection_rows(report))}
</tbody></table>
<script>{_SCRIPT % {"page_size": page_size}}</script>
</body></html>
"""


def save_report(report: StreamReport, out_path: Path) -> Path:
    """Write the rendered report atomically: a reader never sees half a file."""
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    text = render_report(report)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-report-", suffix=".part", dir=out_path.parent)
    try:
        os.fchmod(fd, 0o644)  # a page for people to open, not a secret (mkstemp gives 0600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, out_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out_path


def write_report(
    conn: psycopg.Connection[Any], out_path: Path, top_merchants: int = TOP_MERCHANTS
) -> Path:
    """Read the stream from the state database and write its report to out_path; its path."""
    return save_report(read_report(conn, top_merchants), out_path)
