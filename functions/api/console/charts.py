"""Charts as inline SVG, drawn on the server: no charting library to download, nothing for the CSP to allow.

Each chart carries a ``<title>`` and a text table fallback in the page (screen readers and people who prefer numbers);
colours come from the stylesheet's classes, so there is no ``style`` attribute for the CSP to refuse.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 16, 40


def _nice_max(value: float, *, whole: bool = False) -> float:
    """A round top for the axis; ``whole`` (counts) keeps its four tick steps whole numbers."""
    if whole:
        return float(max(4, -(-int(value) // 4) * 4))
    if value <= 0:
        return 1.0
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return float(step * magnitude)
    return float(10 * magnitude)


def _frame(title: str, top: float, fmt: Callable[[float], str], labels: Sequence[str]) -> list[str]:
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = [f"<title>{escape(title)}</title>"]
    for i in range(5):
        value = top * i / 4
        y = TOP + plot_h - plot_h * i / 4
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(f'<text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(fmt(value))}</text>')
    n = max(len(labels), 1)
    every = max(1, n // 8)
    for i, label in enumerate(labels):
        if i % every:
            continue
        x = LEFT + plot_w * (i + 0.5) / n
        parts.append(
            f'<text class="axis" x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">{escape(label)}</text>'
        )
    return parts


def bars(title: str, labels: Sequence[str], values: Sequence[int | None]) -> Markup:
    """A bar per label (counts); None draws nothing (no data is not zero)."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top = _nice_max(max((v for v in values if v is not None), default=0), whole=True)

    def fmt(v: float) -> str:
        return f"{v:.0f}"

    parts = _frame(title, top, fmt, labels)
    n = max(len(values), 1)
    slot = plot_w / n
    for i, value in enumerate(values):
        if value is None:
            continue
        h = plot_h * value / top
        x = LEFT + slot * i + slot * 0.15
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{TOP + plot_h - h:.1f}" width="{slot * 0.7:.1f}" height="{h:.1f}">'
            f"<title>{escape(labels[i])}: {escape(fmt(value))}</title></rect>"
        )
    return _svg(title, parts)


def durations(title: str, labels: Sequence[str], series: Mapping[str, Sequence[float | None]]) -> Markup:
    """One polyline per series of durations in seconds (points where a value exists), each with a legend entry; the
    axis counts whole seconds, minutes or hours, whichever the largest value is in."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    largest = max((v for vs in series.values() for v in vs if v is not None), default=0.0)
    unit, name = (3600, "h") if largest >= 3600 else (60, "min") if largest >= 60 else (1, "s")
    top = _nice_max(largest / unit, whole=True) * unit

    def fmt(v: float) -> str:
        return f"{v / unit:.0f} {name}"

    parts = _frame(title, top, fmt, labels)
    n = max(len(labels), 1)
    for k, (name, values) in enumerate(series.items()):
        points = [
            (LEFT + plot_w * (i + 0.5) / n, TOP + plot_h - plot_h * v / top)
            for i, v in enumerate(values)
            if v is not None
        ]
        if points:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            parts.append(f'<polyline class="series s{k}" points="{path}" fill="none"/>')
            parts += [f'<circle class="dot s{k}" cx="{x:.1f}" cy="{y:.1f}" r="3"/>' for x, y in points]
        parts.append(f'<rect class="key s{k}" x="{LEFT + 150 * k}" y="{HEIGHT - 14}" width="10" height="10"/>')
        parts.append(f'<text class="axis" x="{LEFT + 150 * k + 14}" y="{HEIGHT - 5}">{escape(name)}</text>')
    return _svg(title, parts)


def _svg(title: str, parts: list[str]) -> Markup:
    # every text part was escaped above; the rest is numbers and fixed markup
    return Markup(  # noqa: S704
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg">' + "".join(parts) + "</svg>"
    )
