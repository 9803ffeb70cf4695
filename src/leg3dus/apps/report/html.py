"""A self-contained HTML page: tables and figures embedded as PNG data URIs, no external
resources. A small script marks each image once the browser has decoded it, so a
headless browser can check that every figure loads."""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Sequence
from datetime import UTC, datetime

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;
max-width:1400px;padding:0 1.5em;color:#222;line-height:1.45}
h1{margin-bottom:.2em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;font-size:.85em;margin:.6em 0 1.2em}
th,td{border:1px solid #ddd;padding:.25em .6em}th{background:#f3f3f3;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:1em 0}figcaption{font-size:.85em;color:#555}
img{max-width:100%;height:auto;border:1px solid #eee}
.note{color:#555;font-size:.9em}.swatch{display:inline-block;width:.9em;height:.9em;
vertical-align:middle;margin-right:.3em;border-radius:2px}
.scroll{overflow-x:auto}
"""

# Marks every <img> with data-loaded="1" or "0" once decoded (or failed), and the body
# with data-images="loaded/total" when all have settled.
_SCRIPT = """
(function(){
  function settle(){
    var imgs=document.images, ok=0, done=0;
    for(var i=0;i<imgs.length;i++){
      var im=imgs[i];
      if(im.complete){done++; var good=im.naturalWidth>0; im.dataset.loaded=good?"1":"0";
        if(good) ok++;}
    }
    if(done===imgs.length){document.body.dataset.images=ok+"/"+imgs.length;}
    else{setTimeout(settle,50);}
  }
  window.addEventListener("load",settle);
})();
"""


def esc(text) -> str:
    """HTML-escape ``text`` (converted with ``str``)."""
    return html.escape(str(text), quote=True)


def fmt(value, digits: int = 2) -> str:
    """A table cell's text: floats with ``digits`` decimals, NaN/None as an en dash."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(v):
        return "–"
    if math.isinf(v):
        return "∞" if v > 0 else "-∞"
    return f"{v:.{digits}f}"


def table(columns: Sequence[str], rows: Sequence[Sequence], digits=None, cls: str = "") -> str:
    """An HTML table; ``digits`` gives decimals per column (a number for all)."""
    if digits is None or isinstance(digits, int):
        digits = [2 if digits is None else digits] * len(columns)
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    thead = f"<thead><tr>{head}</tr></thead>" if any(columns) else ""
    body = []
    for row in rows:
        cells = []
        for v, d in zip(row, digits, strict=True):
            numeric = isinstance(v, (int, float)) and not isinstance(v, bool)
            cells.append(f'<td class="num">{esc(fmt(v, d))}</td>' if numeric
                         else f"<td>{esc(fmt(v, d))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<div class="scroll"><table class="{esc(cls)}">{thead}'
            f"<tbody>{''.join(body)}</tbody></table></div>")


def image(png: bytes, alt: str, caption: str = "", figure_id: str = "") -> str:
    """A figure with ``png`` embedded as a data URI, and an optional caption."""
    data = base64.b64encode(png).decode("ascii")
    ident = f' id="{esc(figure_id)}"' if figure_id else ""
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return (f'<figure{ident}><img alt="{esc(alt)}" src="data:image/png;base64,{data}">'
            f"{cap}</figure>")


def section(title: str, *parts: str, section_id: str = "") -> str:
    """A titled section of the page."""
    ident = f' id="{esc(section_id)}"' if section_id else ""
    return f"<section{ident}><h2>{esc(title)}</h2>{''.join(parts)}</section>"


def paragraph(text: str, cls: str = "") -> str:
    """A paragraph of escaped text."""
    c = f' class="{esc(cls)}"' if cls else ""
    return f"<p{c}>{esc(text)}</p>"


def page(title: str, sections: Sequence[str], subtitle: str = "") -> str:
    """The whole document."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    from ... import __version__

    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
            f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>"
            f"<h1>{esc(title)}</h1><p class=\"note\">{esc(subtitle)} Made by leg3dus "
            f"{esc(__version__)} on {stamp}.</p>{''.join(sections)}"
            f"<script>{_SCRIPT}</script></body></html>\n")
