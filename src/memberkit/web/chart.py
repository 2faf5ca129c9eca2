"""The dashboard's chart: points added, deducted and expired per day, as server-rendered SVG.

Built from numbers only; the few text labels are escaped here, and colours
are classes (the CSP allows no inline styles).
"""

from __future__ import annotations

from html import escape

from memberkit.services.admin_views import DayTotals

WIDTH, HEIGHT = 900, 260
LEFT, RIGHT, TOP, BOTTOM = 60, 10, 10, 30
SERIES = (("added", "Added"), ("deducted", "Deducted"), ("expired", "Expired"))


def points_chart(days: list[DayTotals]) -> str:
    """An ``<svg>`` with one line per series over ``days`` and a y axis from 0 to the peak."""
    if not days:
        return ""
    peak = max([1] + [getattr(d, name) for d in days for name, _ in SERIES])
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    step = plot_w / max(len(days) - 1, 1)

    def y(value: int) -> float:
        return float(TOP + plot_h - plot_h * value / peak)

    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="Points added, deducted and expired per day" '
        f'xmlns="http://www.w3.org/2000/svg">',
        f'<line class="axis" x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" '
        f'y2="{TOP + plot_h}"/>',
        f'<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}"/>',
    ]
    for fraction in (0.0, 0.5, 1.0):
        value = round(peak * fraction)
        parts.append(
            f'<text class="tick" x="{LEFT - 6}" y="{y(value) + 4:.1f}" '
            f'text-anchor="end">{value:,}</text>'
        )
    for index in (0, len(days) // 2, len(days) - 1):
        label = escape(days[index].day.isoformat())
        parts.append(
            f'<text class="tick" x="{LEFT + index * step:.1f}" y="{HEIGHT - 8}" '
            f'text-anchor="middle">{label}</text>'
        )
    for name, title in SERIES:
        points = " ".join(
            f"{LEFT + i * step:.1f},{y(getattr(d, name)):.1f}" for i, d in enumerate(days)
        )
        parts.append(
            f'<polyline class="series series-{name}" points="{points}">'
            f"<title>{escape(title)}</title></polyline>"
        )
    parts.append("</svg>")
    return "".join(parts)
