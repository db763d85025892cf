"""The workflow drawn as SVG for the case page, the current state highlighted (no JavaScript needed)."""

from __future__ import annotations

from html import escape

from workflows import case as workflow

_W, _H, _GAP_X, _GAP_Y = 118, 40, 22, 70


def _layout() -> dict[str, tuple[int, int]]:
    """Place the main path on the top row and the side and end states below it."""
    main = [s.name for s in workflow.STATES if s.kind == "main"]
    others = [s.name for s in workflow.STATES if s.kind != "main"]
    places = {name: (10 + i * (_W + _GAP_X), 10) for i, name in enumerate(main)}
    places |= {name: (10 + i * (_W + _GAP_X), 10 + _H + _GAP_Y) for i, name in enumerate(others)}
    return places


def workflow_svg(current: str, language: str = "vi") -> str:
    """Return the states and transitions as an SVG picture, with the current state filled."""
    places = _layout()
    width = max(x for x, _ in places.values()) + _W + 10
    height = 2 * _H + _GAP_Y + 20
    lines = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" class="workflow" role="img" '
        f'aria-label="workflow, current state {escape(current)}">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto">'
        '<path d="M0,0 L10,5 L0,10 z" fill="#888"/></marker></defs>',
    ]
    drawn: set[tuple[str, str]] = set()
    for spec in workflow.TRANSITIONS:
        for source in spec.sources:
            if (source, spec.dest) in drawn or source == spec.dest:
                continue
            drawn.add((source, spec.dest))
            (x1, y1), (x2, y2) = places[source], places[spec.dest]
            start_y, end_y = (y1 + _H, y2) if y2 > y1 else (y1, y2 + _H) if y2 < y1 else (y1 + _H // 2, y2 + _H // 2)
            start_x, end_x = (x1 + _W, x2) if y1 == y2 and x2 > x1 else (x1 + _W // 2, x2 + _W // 2)
            lines.append(f'<line x1="{start_x}" y1="{start_y}" x2="{end_x}" y2="{end_y}" stroke="#bbb" marker-end="url(#arrow)"/>')
    for state in workflow.STATES:
        x, y = places[state.name]
        label = state.label_vi if language == "vi" else state.label_en
        mark = ' class="current"' if state.name == current else ""
        lines.append(
            f'<g{mark} data-state="{state.name}"><rect x="{x}" y="{y}" width="{_W}" height="{_H}" rx="8"/>'
            f'<text x="{x + _W // 2}" y="{y + _H // 2 + 4}" text-anchor="middle">{escape(label)}</text></g>'
        )
    lines.append("</svg>")
    return "".join(lines)
