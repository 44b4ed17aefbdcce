"""Pareto dominance over objective vectors: the front, NSGA-II's non-dominated sorting and
crowding distance, and the hypervolume of a two-objective front.

Every function here takes points *oriented to be maximised* (`oriented` turns raw values and
their directions, `"maximize"` / `"minimize"`, into such points: a minimised objective is
negated). `a` dominates `b` when it is at least as good in every objective and better in one;
the front is the points no other point dominates.

Example::

    >>> pts = [(1.0, -3.0), (2.0, -4.0), (0.5, -3.5), (2.0, -4.0)]
    >>> dominates(pts[0], pts[2]), dominates(pts[0], pts[1])
    (True, False)
    >>> front(pts)
    [0, 1, 3]
    >>> hypervolume_2d([pts[i] for i in front(pts)], (0.0, -5.0))
    3.0
"""
from __future__ import annotations

import math
from collections.abc import Sequence

Point = Sequence[float]
DIRECTIONS = ("maximize", "minimize")


def oriented(values: Sequence[float], directions: Sequence[str]) -> tuple[float, ...]:
    """`values` as a point to maximise: minimised objectives negated.

    Example::

        >>> oriented([93.1, 4.5], ["maximize", "minimize"])
        (93.1, -4.5)
    """
    return tuple(float(v) if d == "maximize" else -float(v) for v, d in zip(values, directions, strict=True))


def dominates(a: Point, b: Point) -> bool:
    """Whether `a` is at least as good as `b` in every objective and better in one."""
    better = False
    for x, y in zip(a, b, strict=True):
        if x < y:
            return False
        better = better or x > y
    return better


def front(points: Sequence[Point]) -> list[int]:
    """The indices (ascending) of the points no other point dominates; equal points are all kept."""
    if points and len(points[0]) == 2:   # two objectives: one sweep, best first objective first
        order = sorted(range(len(points)), key=lambda i: (-points[i][0], -points[i][1]))
        out, best, i = [], -math.inf, 0
        while i < len(order):   # a run of equal first values: only its best second values can stay
            j = i
            while j < len(order) and points[order[j]][0] == points[order[i]][0]:
                j += 1
            top = points[order[i]][1]
            if top > best:
                out += [k for k in order[i:j] if points[k][1] == top]
                best = top
            i = j
        return sorted(out)
    return [i for i, p in enumerate(points) if not any(dominates(q, p) for q in points)]


def nondominated_sort(points: Sequence[Point]) -> list[list[int]]:
    """NSGA-II's fronts: the indices of the first front, of the front once it is removed, and so
    on, until every point has its rank (each front's indices ascending).

    Example::

        >>> nondominated_sort([(1, 1), (2, 2), (0, 3), (0, 0)])
        [[1, 2], [0], [3]]
    """
    dominated_by = [0] * len(points)
    beats: list[list[int]] = [[] for _ in points]
    for i, p in enumerate(points):
        for j in range(i + 1, len(points)):
            if dominates(p, points[j]):
                beats[i].append(j)
                dominated_by[j] += 1
            elif dominates(points[j], p):
                beats[j].append(i)
                dominated_by[i] += 1
    fronts, current = [], [i for i, n in enumerate(dominated_by) if n == 0]
    while current:
        fronts.append(sorted(current))
        following = []
        for i in current:
            for j in beats[i]:
                dominated_by[j] -= 1
                if dominated_by[j] == 0:
                    following.append(j)
        current = following
    return fronts


def crowding_distance(points: Sequence[Point]) -> list[float]:
    """NSGA-II's crowding distance of each point within its front: per objective, the gap
    between its neighbours in that objective over the objective's range; the extremes of
    each objective are infinitely far.

    Example::

        >>> crowding_distance([(0, 4), (1, 2), (4, 0)])
        [inf, 2.0, inf]
    """
    n = len(points)
    if n <= 2:
        return [math.inf] * n
    distance = [0.0] * n
    for m in range(len(points[0])):
        order = sorted(range(n), key=lambda i: points[i][m])
        low, high = points[order[0]][m], points[order[-1]][m]
        distance[order[0]] = distance[order[-1]] = math.inf
        if high == low:
            continue
        for k in range(1, n - 1):
            distance[order[k]] += (points[order[k + 1]][m] - points[order[k - 1]][m]) / (high - low)
    return distance


def hypervolume_2d(points: Sequence[Point], reference: Point) -> float:
    """The area that the points dominate and that dominates `reference` (both objectives
    maximised): an exact sweep over the points sorted by the first objective. Points that do
    not dominate the reference add nothing.

    Example::

        >>> hypervolume_2d([(3, 1), (1, 3), (2, 2)], (0, 0))
        6.0
    """
    rx, ry = reference
    inside = sorted(((x, y) for x, y in points if x > rx and y > ry), key=lambda p: (-p[0], -p[1]))
    area, top = 0.0, ry
    for x, y in inside:
        if y > top:
            area += (x - rx) * (y - top)
            top = y
    return area
