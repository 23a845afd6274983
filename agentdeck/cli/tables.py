"""Aligned text tables for the commands that print lists."""


def text_table(columns, rows):
    """``rows`` (dicts) under ``columns``, a sequence of (HEADER, key); "-" for a None value."""
    cells = [[title for title, _ in columns]]
    cells += [["-" if row.get(key) is None else str(row[key]) for _, key in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in cells)
