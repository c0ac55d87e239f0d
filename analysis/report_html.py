"""One self-contained HTML page (inline CSS, PNGs embedded as base64) that opens in a browser offline."""

from __future__ import annotations

import base64
import html

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; padding: 0 1em; max-width: 1200px; color: #222;
       overflow-wrap: anywhere; }
table { border-collapse: collapse; margin: 1em 0; display: block; max-width: 100%; overflow-x: auto; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.7em; text-align: right; }
th:nth-child(-n+2), td:nth-child(-n+2) { text-align: left; }
figure { margin: 1.5em 0; }
figcaption { font-size: 0.9em; color: #555; }
img { max-width: 100%; }
"""


def render_report_html(
    title: str,
    summary: str,
    table_html: str,
    figures: list[tuple[str, bytes]],
    more_tables: list[tuple[str, str]] = (),
    warnings: list[str] = (),
) -> str:
    """The page: title, a summary line, the ``warnings`` on the selections (if any), the main table and
    each (heading, table) of ``more_tables``, then each (caption, PNG) as an embedded figure."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{html.escape(summary)}</p>",
    ]
    if warnings:
        items = "".join(f"<li>{html.escape(warning)}</li>" for warning in warnings)
        parts += ["<h2>Warnings</h2>", f'<ul class="warnings">{items}</ul>']
    parts += ["<h2>Main table</h2>", table_html]
    for heading, table in more_tables:
        parts += [f"<h2>{html.escape(heading)}</h2>", table]
    parts.append("<h2>Plots</h2>")
    for caption, image in figures:
        encoded = base64.b64encode(image).decode()
        parts.append(
            f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{encoded}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
