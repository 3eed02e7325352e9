#!/usr/bin/env python3
"""Draws the main panels of Endure's Grafana dashboards into one SVG, from a Prometheus.

    python3 scripts/observability-picture.py --prometheus http://127.0.0.1:9090 \\
        --start UNIX_SECONDS --end UNIX_SECONDS --out docs/observability-panels.svg

The panels (requests/s by operation, p95 latency, workflow outcomes, backlog, persistence
latency, commit batch size) are read from deploy/observability/grafana/*.json by title, so the
picture shows exactly what the dashboards query: each target's expression, its Grafana variables
substituted (`$namespace` -> `.*`, `$__rate_interval` -> `--window`), is sent to
/api/v1/query_range. Standard library only; the SVG is written by hand (no matplotlib, no
Grafana). tests/python/test_observability_prometheus.py runs it (ENDURE_OBSERVABILITY_PICTURE=path
keeps the picture).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parents[1]
DASHBOARDS = ROOT / "deploy" / "observability" / "grafana"

#: (dashboard file, panel title) of the panels drawn, in reading order.
PANELS = [
    ("endure-server-overview.json", "Requests/s by operation"),
    ("endure-server-overview.json", "Latency p95 by operation (long polls excluded)"),
    ("endure-server-overview.json", "Workflow outcomes/s"),
    ("endure-task-queues.json", "Approximate backlog by task queue"),
    ("endure-persistence.json", "Persistence latency p95 by operation"),
    ("endure-persistence.json", "Commit batch size (transactions per group commit)"),
]

PALETTE = [
    "#7eb26d", "#eab839", "#6ed0e0", "#ef843c", "#e24d42", "#1f78c1",
    "#ba43a9", "#705da0", "#508642", "#cca300", "#447ebc", "#c15c17",
]
MAX_SERIES = 8

# Geometry of one panel and of the page.
COLS = 3
PANEL_W, PANEL_H = 470, 330
PLOT_LEFT, PLOT_RIGHT, PLOT_TOP, PLOT_H = 58, 14, 34, 170
MARGIN, HEADER = 16, 46


def substitute(expr: str, window: str) -> str:
    for var in ("__rate_interval", "__interval", "__range"):
        expr = expr.replace("${" + var + "}", window).replace("$" + var, window)
    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", ".*", expr)


def query_range(prometheus: str, expr: str, start: float, end: float, step: float) -> list[dict]:
    params = urllib.parse.urlencode({"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"})
    with urllib.request.urlopen(f"{prometheus}/api/v1/query_range?{params}", timeout=30) as r:
        body = json.load(r)
    if body.get("status") != "success":
        raise RuntimeError(f"{expr}: {body.get('error')}")
    return body["data"]["result"]


def legend(fmt: str, labels: dict[str, str]) -> str:
    if not fmt or fmt == "__auto":
        return ", ".join(f"{k}={v}" for k, v in sorted(labels.items())) or "value"
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), fmt).strip()


def find_panel(file: str, title: str) -> dict:
    dash = json.loads((DASHBOARDS / file).read_text())
    panels = list(dash["panels"])
    for p in list(panels):
        panels.extend(p.get("panels", []))
    for p in panels:
        if p.get("title") == title:
            return p
    raise SystemExit(f"{file}: no panel titled {title!r}")


def fmt_value(v: float, unit: str) -> str:
    if unit == "s":
        if v == 0:
            return "0"
        if v < 1:
            return f"{v * 1000:.3g} ms"
        return f"{v:.3g} s"
    if unit == "percentunit":
        return f"{v * 100:.3g}%"
    suffix = "/s" if unit in ("reqps", "ops") else ""
    if abs(v) >= 1000:
        return f"{v / 1000:.3g}k{suffix}"
    return f"{v:.3g}{suffix}"


def text_width(text: str, size: float = 10.5) -> float:
    """A generous estimate of `text`'s width in px (DejaVu Sans' proportions, the widest of the
    fonts a renderer falls back to), to keep legend names clear of their values."""
    em = 0.0
    for c in text:
        if c in "ijl.,:;'|!":
            em += 0.3
        elif c in "frtI()[]/ -_":
            em += 0.42
        elif c in "mwMW%@…":
            em += 1.0
        elif c.isupper() or c.isdigit():
            em += 0.7
        else:
            em += 0.6
    return em * size


def fit(text: str, width: float) -> str:
    """`text`, cut short with an ellipsis to fit in `width` px."""
    if text_width(text) <= width:
        return text
    while text and text_width(text + "…") > width:
        text = text[:-1]
    return text + "…"


def nice_max(v: float) -> float:
    if v <= 0 or math.isnan(v):
        return 1.0
    exp = 10 ** math.floor(math.log10(v))
    for m in (1, 2, 2.5, 5, 10):
        if v <= m * exp:
            return m * exp
    return 10 * exp


def draw_panel(out: list[str], x0: float, y0: float, title: str, unit: str, series: list[tuple[str, list]], start: float, end: float, note: str) -> None:
    out.append(f'<g class="panel" data-title="{escape(title)}" transform="translate({x0:.0f},{y0:.0f})">')
    out.append(f'<rect width="{PANEL_W}" height="{PANEL_H}" rx="4" fill="#ffffff" stroke="#d8d9da"/>')
    out.append(f'<text x="12" y="22" class="title">{escape(title)}</text>')
    pw = PANEL_W - PLOT_LEFT - PLOT_RIGHT
    px, py = PLOT_LEFT, PLOT_TOP
    values = [v for _, pts in series for _, v in pts if not math.isnan(v)]
    ymax = nice_max(max(values) if values else 0)
    # Grid and y labels.
    for i in range(5):
        yv = ymax * i / 4
        yy = py + PLOT_H - PLOT_H * i / 4
        out.append(f'<line x1="{px}" y1="{yy:.1f}" x2="{px + pw}" y2="{yy:.1f}" class="grid"/>')
        out.append(f'<text x="{px - 6}" y="{yy + 4:.1f}" class="axis" text-anchor="end">{escape(fmt_value(yv, unit))}</text>')
    # x labels: clock time (UTC).
    span = max(end - start, 1e-9)
    for i in range(5):
        t = start + span * i / 4
        xx = px + pw * i / 4
        out.append(f'<line x1="{xx:.1f}" y1="{py}" x2="{xx:.1f}" y2="{py + PLOT_H}" class="grid"/>')
        label = time.strftime("%H:%M:%S", time.gmtime(t))
        out.append(f'<text x="{xx:.1f}" y="{py + PLOT_H + 15}" class="axis" text-anchor="middle">{label}</text>')
    out.append(f'<rect x="{px}" y="{py}" width="{pw}" height="{PLOT_H}" fill="none" stroke="#c7d0d9"/>')
    if not series:
        out.append(f'<text x="{px + pw / 2:.0f}" y="{py + PLOT_H / 2:.0f}" class="nodata" text-anchor="middle">no data</text>')
    for i, (name, pts) in enumerate(series):
        color = PALETTE[i % len(PALETTE)]
        # One polyline per run of consecutive samples (a gap breaks the line).
        run: list[str] = []
        prev_t = None
        for t, v in pts + [(math.inf, math.nan)]:
            gap = prev_t is not None and t - prev_t > 2.5 * (span / max(len(pts), 1) + 1e-9) and t != math.inf
            if math.isnan(v) or gap:
                if len(run) >= 2:
                    out.append(f'<polyline points="{" ".join(run)}" fill="none" stroke="{color}" stroke-width="1.6"/>')
                elif len(run) == 1:
                    cx, cy = run[0].split(",")
                    out.append(f'<circle cx="{cx}" cy="{cy}" r="2" fill="{color}"/>')
                run = []
            if not math.isnan(v):
                xx = px + pw * (t - start) / span
                yy = py + PLOT_H - PLOT_H * min(v, ymax) / ymax
                run.append(f"{xx:.1f},{yy:.1f}")
            prev_t = t
    # Legend: two columns under the plot.
    ly = py + PLOT_H + 34
    for i, (name, pts) in enumerate(series):
        col, row = i % 2, i // 2
        lx = 12 + col * (PANEL_W / 2)
        yy = ly + row * 16
        color = PALETTE[i % len(PALETTE)]
        last = next((v for _, v in reversed(pts) if not math.isnan(v)), math.nan)
        value = "" if math.isnan(last) else fmt_value(last, unit)
        # The name, cut short to end 8 px before the value (right-aligned in the column).
        room = PANEL_W / 2 - 24 - 15 - (text_width(value) + 8 if value else 0)
        out.append(f'<rect x="{lx:.0f}" y="{yy - 9}" width="10" height="10" fill="{color}"/>')
        out.append(f'<text x="{lx + 15:.0f}" y="{yy}" class="legend">{escape(fit(name, room))}</text>')
        if value:
            out.append(f'<text x="{lx + PANEL_W / 2 - 24:.0f}" y="{yy}" class="legendval" text-anchor="end">'
                       f'{escape(value)}</text>')
    if note:
        out.append(f'<text x="{PANEL_W - 12}" y="22" class="note" text-anchor="end">{escape(note)}</text>')
    out.append("</g>")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prometheus", required=True, help="Prometheus base URL, e.g. http://127.0.0.1:9090")
    ap.add_argument("--start", type=float, required=True, help="Unix seconds")
    ap.add_argument("--end", type=float, required=True, help="Unix seconds")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--step", type=float, help="seconds between points (default: span/120, at least 1)")
    ap.add_argument("--window", help="what $__rate_interval becomes (default: 4 steps, at least 4s)")
    ap.add_argument("--title", default="Endure observability: the main panels")
    args = ap.parse_args()

    span = args.end - args.start
    if span <= 0:
        ap.error("--end must be after --start")
    step = args.step or max(1.0, round(span / 120, 1))
    window = args.window or f"{max(4, math.ceil(4 * step))}s"

    rows = math.ceil(len(PANELS) / COLS)
    width = MARGIN * (COLS + 1) + PANEL_W * COLS
    height = HEADER + MARGIN * rows + PANEL_H * rows + MARGIN
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        'font-family="Inter, Helvetica, Arial, sans-serif">',
        "<style>"
        ".title{font-size:13px;font-weight:600;fill:#1f2329}"
        ".axis{font-size:10px;fill:#6e7480}"
        ".legend{font-size:10.5px;fill:#30343a}"
        ".legendval{font-size:10.5px;fill:#8a8f98}"
        ".note{font-size:10px;fill:#8a8f98}"
        ".nodata{font-size:13px;fill:#8a8f98}"
        ".grid{stroke:#eceef1;stroke-width:1}"
        ".head{font-size:17px;font-weight:600;fill:#1f2329}"
        ".sub{font-size:11px;fill:#6e7480}"
        "</style>",
        f'<rect width="{width}" height="{height}" fill="#f4f5f5"/>',
        f'<text x="{MARGIN}" y="26" class="head">{escape(args.title)}</text>',
        f'<text x="{MARGIN}" y="40" class="sub">{escape(time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(args.start)))} – '
        f'{escape(time.strftime("%H:%M:%S UTC", time.gmtime(args.end)))}, step {step:g}s, rate window {window}; '
        f'panels and queries from deploy/observability/grafana</text>',
    ]
    for i, (file, title) in enumerate(PANELS):
        panel = find_panel(file, title)
        unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit", "short")
        series: list[tuple[str, list]] = []
        for t in panel.get("targets", []):
            expr = substitute(t["expr"], window)
            for r in query_range(args.prometheus, expr, args.start, args.end, step):
                pts = [(float(ts), float(v)) for ts, v in r["values"]]
                series.append((legend(t.get("legendFormat", ""), r["metric"]), pts))
        # The busiest series first; a legend of at most MAX_SERIES.
        def peak(s: tuple[str, list]) -> float:
            vals = [v for _, v in s[1] if not math.isnan(v)]
            return max(vals) if vals else -1.0

        series.sort(key=peak, reverse=True)
        note = f"top {MAX_SERIES} of {len(series)} series" if len(series) > MAX_SERIES else ""
        series = series[:MAX_SERIES]
        col, row = i % COLS, i // COLS
        draw_panel(out, MARGIN + col * (PANEL_W + MARGIN), HEADER + MARGIN + row * (PANEL_H + MARGIN), title, unit, series, args.start, args.end, note)
    out.append("</svg>")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(out) + "\n")
    print(f"wrote {args.out} ({len(PANELS)} panels)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
