"""A small inline-SVG line chart of RSS over time, for the HTML page (no external assets)."""

WIDTH = 240   # pixels
HEIGHT = 40   # pixels
PADDING = 2   # pixels kept free around the line so its stroke is not cut
MIN_SPAN = 1024 * 1024  # bytes: a flat line is drawn mid-height instead of magnifying noise


def sparkline(samples, label="RSS"):
    """An ``<svg>`` of ``samples``, a sequence of (unix time, value) oldest first.

    Fewer than two samples draw an empty frame (the chart fills in as samples arrive).
    """
    frame = (f'<svg class="spark" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" '
             f'role="img" aria-label="{label} over time">'
             f'<rect x="0.5" y="0.5" width="{WIDTH - 1}" height="{HEIGHT - 1}" class="spark-frame"/>')
    if len(samples) < 2:
        return frame + "</svg>"
    t0, t1 = samples[0][0], samples[-1][0]
    low = min(value for _, value in samples)
    high = max(value for _, value in samples)
    if high - low < MIN_SPAN:
        middle = (high + low) / 2
        low, high = middle - MIN_SPAN / 2, middle + MIN_SPAN / 2
    x_scale = (WIDTH - 2 * PADDING) / ((t1 - t0) or 1)
    y_scale = (HEIGHT - 2 * PADDING) / (high - low)
    points = " ".join(f"{PADDING + (t - t0) * x_scale:.1f},{HEIGHT - PADDING - (value - low) * y_scale:.1f}"
                      for t, value in samples)
    return frame + f'<polyline class="spark-line" fill="none" points="{points}"/></svg>'
