"""Render a self-contained HTML report: metrics with a bar chart, images, tables and notes."""

from __future__ import annotations

import base64
import html
import io
import itertools
import math
import re
from datetime import UTC, datetime
from pathlib import Path

from matplotlib.figure import Figure

from flowui.base_operator import BaseOperator

from .model import InputModel, OutputModel

_IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".svg": "image/svg+xml",
}
_MAX_IMAGE_BYTES = 20_000_000
# The report embeds everything it shows; this policy stops anything else from loading or running.
_CONTENT_SECURITY_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem;
       color: #1f2937; line-height: 1.5; }
h1 { border-bottom: 2px solid #6366f1; padding-bottom: .3rem; }
table { border-collapse: collapse; margin: 1rem 0; font-size: .9rem; }
th, td { border: 1px solid #d1d5db; padding: .3rem .6rem; text-align: left; }
th { background: #eef2ff; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; height: auto; display: block; margin: 1rem 0; }
figure { margin: 1rem 0; } figcaption { color: #6b7280; font-size: .85rem; }
code { background: #f3f4f6; padding: 0 .2rem; border-radius: 3px; }
footer { margin-top: 3rem; color: #6b7280; font-size: .8rem; }
"""


def inline_markup(escaped: str) -> str:
    """**bold** and `code` on text that is already HTML-escaped, so no tag can slip in."""
    escaped = re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", escaped)


def line_kind(line: str) -> str:
    if re.match(r"#{1,3}\s", line):
        return "heading"
    return "item" if line[:2] in ("- ", "* ") else "text"


def render_notes(notes: str) -> str:
    """Paragraphs, headings and lists from plain text; every piece of text is HTML-escaped."""
    parts: list[str] = []
    for block in re.split(r"\n\s*\n", notes.strip()):
        lines = [line.strip() for line in block.splitlines() if line.strip()]
        for kind, run in itertools.groupby(lines, key=line_kind):
            run_lines = list(run)
            if kind == "heading":
                for line in run_lines:
                    marks, text = line.split(maxsplit=1)
                    level = len(marks) + 1
                    parts.append(f"<h{level}>{inline_markup(html.escape(text))}</h{level}>")
            elif kind == "item":
                items = "".join(
                    f"<li>{inline_markup(html.escape(line[2:].strip()))}</li>" for line in run_lines
                )
                parts.append(f"<ul>{items}</ul>")
            else:
                parts.append(f"<p>{inline_markup(html.escape(' '.join(run_lines)))}</p>")
    return "\n".join(parts)


def metrics_chart(metrics: dict[str, float]) -> str:
    """A horizontal bar chart of the finite metrics, as a base64 PNG."""
    shown = {name: value for name, value in metrics.items() if math.isfinite(value)}
    figure = Figure(figsize=(6.5, 0.5 * len(shown) + 1.2), dpi=100)
    axes = figure.add_subplot()
    names = list(shown)[::-1]  # first metric on top
    values = [shown[name] for name in names]
    bars = axes.barh(names, values, color="#6366f1")
    axes.bar_label(bars, labels=[f"{value:.3g}" for value in values], padding=3)
    if values and all(0 <= value <= 1 for value in values):
        axes.set_xlim(0, 1.1)  # scores: keep the scale honest
    axes.set_title("Metrics")
    axes.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def embedded_image(path: str) -> str:
    file = Path(path).expanduser()
    if not file.is_file():
        raise ValueError(f"image {file} does not exist")
    mime = _IMAGE_TYPES.get(file.suffix.lower())
    if mime is None:
        raise ValueError(
            f"cannot embed {file.name}: supported images are {', '.join(sorted(_IMAGE_TYPES))}"
        )
    if file.stat().st_size > _MAX_IMAGE_BYTES:
        raise ValueError(f"image {file} is larger than {_MAX_IMAGE_BYTES // 1_000_000} MB")
    data = base64.b64encode(file.read_bytes()).decode("ascii")
    caption = html.escape(file.name)
    return (
        f'<figure><img src="data:{mime};base64,{data}" alt="{caption}">'
        f"<figcaption>{caption}</figcaption></figure>"
    )


def table_html(path: str, max_rows: int) -> str:
    file = Path(path).expanduser()
    if not file.is_file():
        raise ValueError(f"table {file} does not exist")
    import pandas as pd  # only when tables are asked for: it takes seconds to import

    table = pd.read_csv(file, sep="\t" if file.suffix.lower() == ".tsv" else ",")
    shown = f"{min(len(table), max_rows)} of {len(table)} rows"
    return f"<h3>{html.escape(file.name)} <small>({shown})</small></h3>\n" + table.head(
        max_rows
    ).to_html(index=False, escape=True, border=0, na_rep="")


class HtmlReportOperator(BaseOperator):
    def operator_function(self, input_model: InputModel) -> OutputModel:
        images = [p for p in [input_model.image_path, *input_model.image_paths] if p]
        tables = [p for p in [input_model.table_path, *input_model.table_paths] if p]
        title = html.escape(input_model.title)
        body = [f"<h1>{title}</h1>"]
        if input_model.notes.strip():
            body.append(render_notes(input_model.notes))
        if input_model.metrics:
            rows = "".join(
                f'<tr><th>{html.escape(name)}</th><td class="number">{value:.4f}</td></tr>'
                if math.isfinite(value)
                else f'<tr><th>{html.escape(name)}</th><td class="number">n/a</td></tr>'
                for name, value in input_model.metrics.items()
            )
            body.append(f"<h2>Metrics</h2>\n<table>{rows}</table>")
            if any(math.isfinite(value) for value in input_model.metrics.values()):
                chart = metrics_chart(input_model.metrics)
                body.append(f'<img src="data:image/png;base64,{chart}" alt="Metrics chart">')
        if images:
            body.append("<h2>Figures</h2>")
            body.extend(embedded_image(path) for path in images)
        if tables:
            body.append("<h2>Tables</h2>")
            body.extend(table_html(path, input_model.max_table_rows) for path in tables)
        generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        where = html.escape(f"{self.dag_id} / {self.run_id} / {self.task_id}")
        body.append(f"<footer>Generated by FlowUI ({where}) on {generated}</footer>")

        document = (
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta http-equiv="Content-Security-Policy" content="{_CONTENT_SECURITY_POLICY}">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{title}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
            + "\n".join(body)
            + "\n</body>\n</html>\n"
        )
        report_path = self.results_path / "report.html"
        report_path.write_text(document, encoding="utf-8")
        self.set_display_result(file_path=report_path, file_type="html")
        self.logger.info(
            "Wrote %s: %d metrics, %d images, %d tables (%d bytes)",
            report_path,
            len(input_model.metrics),
            len(images),
            len(tables),
            len(document.encode()),
        )
        return OutputModel(report_path=str(report_path.resolve()))
