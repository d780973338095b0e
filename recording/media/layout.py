"""Where each broadcaster goes in the live picture: the host large on the left, co-hosts tiled on the right.

Pure arithmetic, no media: `layout_tiles` is called whenever someone joins or leaves.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_COLUMN_TILES = 4  # co-hosts per column on the right; more open a second column


@dataclass(frozen=True)
class Rect:
    x: int
    y: int
    width: int
    height: int


def _even(value: float) -> int:
    """Down to an even number: 4:2:0 chroma planes need even offsets and sizes."""
    return max(2, int(value) // 2 * 2)


def layout_tiles(width: int, height: int, host: str | None, cohosts: list[str]) -> dict[str, Rect]:
    """Tiles for `host` and `cohosts` (in join order) on a `width` x `height` canvas, no overlap.

    Alone, a broadcaster fills the canvas. With co-hosts, the host keeps the left three quarters (two
    thirds past four co-hosts) and the co-hosts share the right side in rows of one or two columns.
    """
    people = ([host] if host else []) + [c for c in cohosts if c != host]
    if not people:
        return {}
    if len(people) == 1:
        return {people[0]: Rect(0, 0, _even(width), _even(height))}
    guests = people[1:] if host else people
    columns = 1 if len(guests) <= MAX_COLUMN_TILES else 2
    side = _even(width * (0.25 if columns == 1 else 1 / 3)) if host else _even(width)
    tiles: dict[str, Rect] = {}
    if host:
        tiles[host] = Rect(0, 0, _even(width - side), _even(height))
    left = _even(width - side) if host else 0
    rows = -(-len(guests) // columns)
    tile_w, tile_h = _even(side / columns), _even(height / rows)
    for index, account in enumerate(guests):
        row, column = divmod(index, columns)
        tiles[account] = Rect(left + column * tile_w, row * tile_h, tile_w, tile_h)
    return tiles
