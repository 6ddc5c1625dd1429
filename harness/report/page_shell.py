"""The frame of the game day's HTML pages: one file each, usable offline.

Styles and the script are inline, and the page's Content-Security-Policy
refuses every fetch, so a page that tried to reach the network would show
the attempt as an error instead of quietly depending on it.
"""

from html import escape

CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
    "img-src data:"
)

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5em auto; max-width: 72em;
       padding: 0 1em; color: #1d2430; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: .6em 0; }
th, td { border: 1px solid #cfd6e0; padding: .3em .55em; text-align: left;
         vertical-align: top; }
th { background: #eef2f7; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.passed, .held { color: #17692f; font-weight: 600; }
.failed, .missed { color: #a31b1b; font-weight: 600; }
.error, .aborted { color: #8a4b00; font-weight: 600; }
.not-run { color: #66707d; }
.score { font-size: 2.4em; font-weight: 700; margin: .2em 0; }
.note { background: #fff6e0; border-left: 4px solid #e0a100; padding: .4em .8em; }
.warn { background: #fdecec; border-left: 4px solid #c62828; padding: .4em .8em; }
.formula { font-family: ui-monospace, monospace; font-size: .92em; }
.charts { display: flex; flex-wrap: wrap; gap: 1em; }
figure { margin: 0; } figcaption { font-weight: 600; margin-bottom: .2em; }
svg.chart { background: #fbfcfe; border: 1px solid #dde3ea; }
svg .axis { stroke: #6b7684; } svg .grid { stroke: #e6eaf0; }
svg .tick, svg .legend { font-size: 11px; fill: #3b4552; }
svg .empty { font-size: 13px; fill: #8a94a1; }
svg .line { stroke-width: 2; fill: none; }
.c0 { stroke: #1f5fbf; fill: #1f5fbf; } .c1 { stroke: #c2410c; fill: #c2410c; }
.c2 { stroke: #7c8796; fill: #7c8796; } .c3 { stroke: #b45309; fill: #b45309; }
.c4 { stroke: #15803d; fill: #15803d; } .c5 { stroke: #7e22ce; fill: #7e22ce; }
svg .legend { stroke: none; }
"""

# Runs after the charts are in the DOM: counts the charts the browser laid
# out with a size, so a check can tell a drawn page from a broken one.
SCRIPT = """
(function () {
  var charts = document.querySelectorAll("svg.chart");
  var drawn = 0;
  charts.forEach(function (chart) {
    var box = chart.getBBox();
    if (box.width > 0 && box.height > 0) { drawn += 1; }
  });
  document.body.setAttribute("data-charts", String(charts.length));
  document.body.setAttribute("data-charts-drawn", String(drawn));
})();
"""


def html_document(title: str, body: str) -> str:
    """A whole page around body, which must already be escaped HTML."""
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{escape(title)}</title>",
            f"<style>{STYLE}</style>",
            "</head>",
            "<body>",
            body,
            f"<script>{SCRIPT}</script>",
            "</body>",
            "</html>",
            "",
        ]
    )
