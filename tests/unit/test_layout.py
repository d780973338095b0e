"""Live picture layout (recording/media/layout.py): pure arithmetic on a canvas."""

from __future__ import annotations

import itertools

import pytest

from recording.media.layout import MAX_COLUMN_TILES, Rect, layout_tiles

CANVASES = [(1280, 720), (1920, 1080), (641, 361), (360, 640)]


def cohosts(count: int) -> list[str]:
    return [f"guest{i}" for i in range(count)]


def overlap(a: Rect, b: Rect) -> bool:
    return a.x < b.x + b.width and b.x < a.x + a.width and a.y < b.y + b.height and b.y < a.y + a.height


def test_nobody() -> None:
    assert layout_tiles(1280, 720, None, []) == {}


def test_host_alone_fills_the_canvas() -> None:
    assert layout_tiles(1280, 720, "host", []) == {"host": Rect(0, 0, 1280, 720)}


def test_single_cohost_without_host_fills_the_canvas() -> None:
    assert layout_tiles(1280, 720, None, ["guest"]) == {"guest": Rect(0, 0, 1280, 720)}


def test_odd_canvas_rounds_down_to_even() -> None:
    assert layout_tiles(641, 361, "host", []) == {"host": Rect(0, 0, 640, 360)}


def test_host_and_one_cohost() -> None:
    assert layout_tiles(1280, 720, "host", ["guest"]) == {
        "host": Rect(0, 0, 960, 720),
        "guest": Rect(960, 0, 320, 720),
    }


def test_host_and_four_cohosts_share_one_column() -> None:
    tiles = layout_tiles(1280, 720, "host", cohosts(4))
    assert tiles["host"] == Rect(0, 0, 960, 720)
    assert [tiles[g] for g in cohosts(4)] == [Rect(960, 180 * row, 320, 180) for row in range(4)]


def test_more_than_four_cohosts_open_a_second_column() -> None:
    tiles = layout_tiles(1280, 720, "host", cohosts(MAX_COLUMN_TILES + 1))
    assert tiles["host"] == Rect(0, 0, 854, 720)  # two thirds, rounded to even
    assert [tiles[g] for g in cohosts(5)] == [
        Rect(854, 0, 212, 240),
        Rect(1066, 0, 212, 240),
        Rect(854, 240, 212, 240),
        Rect(1066, 240, 212, 240),
        Rect(854, 480, 212, 240),
    ]


def test_cohosts_without_host_share_the_whole_width() -> None:
    tiles = layout_tiles(1280, 720, None, cohosts(2))
    assert tiles == {"guest0": Rect(0, 0, 1280, 360), "guest1": Rect(0, 360, 1280, 360)}


def test_host_listed_among_cohosts_gets_one_tile() -> None:
    assert layout_tiles(1280, 720, "host", ["host", "guest"]) == layout_tiles(1280, 720, "host", ["guest"])


@pytest.mark.parametrize(("size", "count", "host"), list(itertools.product(CANVASES, range(10), ["host", None])))
def test_tiles_are_inside_even_and_disjoint(size: tuple[int, int], count: int, host: str | None) -> None:
    width, height = size
    tiles = layout_tiles(width, height, host, cohosts(count))
    assert set(tiles) == ({host} if host else set()) | set(cohosts(count))
    for rect in tiles.values():
        assert rect.x >= 0 and rect.y >= 0
        assert rect.x + rect.width <= width and rect.y + rect.height <= height
        assert all(v % 2 == 0 for v in (rect.x, rect.y, rect.width, rect.height)), rect
        assert rect.width > 0 and rect.height > 0
    for a, b in itertools.combinations(tiles.values(), 2):
        assert not overlap(a, b), (a, b)


@pytest.mark.parametrize("count", range(2, 10))
def test_cohosts_are_placed_in_join_order(count: int) -> None:
    names = cohosts(count)
    tiles = layout_tiles(1280, 720, "host", names)
    placed = sorted(names, key=lambda name: (tiles[name].y, tiles[name].x))
    assert placed == names
    assert layout_tiles(1280, 720, "host", list(names)) == tiles  # same input, same picture


def test_host_tile_is_the_largest() -> None:
    tiles = layout_tiles(1920, 1080, "host", cohosts(6))
    host_area = tiles["host"].width * tiles["host"].height
    assert all(host_area > r.width * r.height for name, r in tiles.items() if name != "host")
