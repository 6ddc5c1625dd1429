"""Line charts as inline SVG text, for pages that must render offline."""

from dataclasses import dataclass
from html import escape

WIDTH, HEIGHT = 520, 220
LEFT, RIGHT, TOP, BOTTOM = 52, 14, 14, 54
# More x labels than this would overlap; the rest are in each point's tooltip.
MAX_X_LABELS = 6


@dataclass(frozen=True)
class Line:
    name: str
    values: tuple[float | None, ...]  # one per x position; None leaves a gap
    dashed: bool = False
    colour: int | None = None  # index into the page's palette; default: its place


def line_chart(
    title: str,
    x_labels: list[str],
    lines: list[Line],
    unit: str,
    y_max: float | None = None,
) -> str:
    """An SVG chart of lines over shared x positions, with a legend."""
    points = sum(v is not None for line in lines for v in line.values)
    top = y_max or _nice_ceiling(
        max((v for line in lines for v in line.values if v is not None), default=1.0)
    )
    plot = _Plot(len(x_labels), top)
    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'data-points="{points}" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        *_axes(plot, x_labels, unit),
    ]
    for index, line in enumerate(lines):
        parts += _line(plot, line, _colour(line, index), x_labels, unit)
    if not points:
        parts.append(
            f'<text class="empty" x="{WIDTH / 2}" y="{HEIGHT / 2}" '
            'text-anchor="middle">no data</text>'
        )
    parts += _legend(lines)
    parts.append("</svg>")
    return "\n".join(parts)


class _Plot:
    def __init__(self, count: int, y_top: float):
        self.count = count
        self.y_top = y_top

    def x(self, index: int) -> float:
        inner = WIDTH - LEFT - RIGHT
        if self.count <= 1:
            return LEFT + inner / 2
        return round(LEFT + inner * index / (self.count - 1), 1)

    def y(self, value: float) -> float:
        inner = HEIGHT - TOP - BOTTOM
        share = min(max(value / self.y_top, 0.0), 1.0) if self.y_top else 0.0
        return round(TOP + inner * (1 - share), 1)


def _axes(plot: _Plot, x_labels: list[str], unit: str) -> list[str]:
    bottom = HEIGHT - BOTTOM
    parts = [
        f'<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}"/>',
        f'<line class="axis" x1="{LEFT}" y1="{bottom}" '
        f'x2="{WIDTH - RIGHT}" y2="{bottom}"/>',
    ]
    for value in (0.0, plot.y_top / 2, plot.y_top):
        y = plot.y(value)
        parts.append(
            f'<line class="grid" x1="{LEFT}" y1="{y}" x2="{WIDTH - RIGHT}" y2="{y}"/>'
        )
        parts.append(
            f'<text class="tick" x="{LEFT - 4}" y="{y + 4}" text-anchor="end">'
            f"{value:g} {escape(unit)}</text>"
        )
    last = len(x_labels) - 1
    step = max(1, -(-len(x_labels) // MAX_X_LABELS))
    for index, label in enumerate(x_labels):
        # Every step-th label and the last, never two labels closer than a step.
        if index != last and (index % step or last - index < step):
            continue
        anchor = "end" if index == last and last > 0 else "middle"
        parts.append(
            f'<text class="tick" x="{plot.x(index)}" y="{bottom + 14}" '
            f'text-anchor="{anchor}">{escape(label)}</text>'
        )
    return parts


def _line(
    plot: _Plot, line: Line, colour: str, x_labels: list[str], unit: str
) -> list[str]:
    dash = ' stroke-dasharray="5 4"' if line.dashed else ""
    parts = [
        f'<polyline class="line {colour}" fill="none"{dash} points="{run}"/>'
        for run in _runs(plot, line.values)
    ]
    for index, value in enumerate(line.values):
        if value is None:
            continue
        tip = f"{line.name}: {value:g} {unit} ({x_labels[index]})"
        parts.append(
            f'<circle class="dot {colour}" cx="{plot.x(index)}" '
            f'cy="{plot.y(value)}" r="{2 if line.dashed else 3}">'
            f"<title>{escape(tip)}</title></circle>"
        )
    return parts


def _runs(plot: _Plot, values: tuple[float | None, ...]) -> list[str]:
    """Point lists of the unbroken stretches with two points or more."""
    runs, current = [], []
    for index, value in enumerate((*values, None)):
        if value is None:
            if len(current) > 1:
                runs.append(" ".join(current))
            current = []
        else:
            current.append(f"{plot.x(index)},{plot.y(value)}")
    return runs


def _legend(lines: list[Line]) -> list[str]:
    """One entry per line, on two rows when one is too narrow."""
    parts, x, y = [], LEFT, HEIGHT - 20
    for index, line in enumerate(lines):
        width = 30 + 6.5 * len(line.name)
        if x + width > WIDTH - RIGHT and x > LEFT:
            x, y = LEFT, y + 14
        dash = ' stroke-dasharray="5 4"' if line.dashed else ""
        parts.append(
            f'<line class="line {_colour(line, index)}" x1="{x}" y1="{y - 4}" '
            f'x2="{x + 18}" y2="{y - 4}"{dash}/>'
        )
        parts.append(
            f'<text class="legend" x="{x + 22}" y="{y}">{escape(line.name)}</text>'
        )
        x += width
    return parts


def _colour(line: Line, index: int) -> str:
    return f"c{(index if line.colour is None else line.colour) % 6}"


def _nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^n at or above value (1 for none)."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** (len(str(int(value))) - 1) if value >= 1 else 0.1
    while magnitude > value:
        magnitude /= 10
    for step in (1, 2, 2.5, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude
