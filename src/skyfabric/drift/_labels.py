"""Display text of numeric bins (the report's plots): edges with as many significant digits
as tell adjacent edges apart, temporal edges as dates, times and durations.

Labels are for people only: the JSON keeps the float64 edges themselves.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo

import numpy as np

from skyfabric.drift._binning import _TEMPORAL_TYPE, _temporal_unit

__all__ = ["numeric_bin_labels"]

_INF = math.inf
_MIN_DIGITS = 4  # significant digits of a numeric edge, more only when neighbours need them
_FRACTION_DIGITS = {"s": 0, "ms": 3, "us": 6, "ns": 9}
_EPOCH = datetime(1970, 1, 1)
_EPOCH_UTC = datetime(1970, 1, 1, tzinfo=UTC)
_OFFSET = re.compile(r"^([+-])(\d{2}):(\d{2})$")


def numeric_bin_labels(edges: np.ndarray, dtype: str | None = None) -> list[str]:
    """One label per bin of numeric ``edges`` (float64, shape (B+1,), ``-inf`` ... ``+inf``):
    ``"< e1"``, ``"[e1, e2)"``, ..., ``">= e"`` (``"all"`` for the single bin of two edges).

    ``dtype`` is the baseline column's Arrow type string (`ColumnBaseline.dtype`). For a
    date, time, timestamp or duration it gives readable edges in the baseline's unit:
    ``2023-11-19``, ``2023-11-19 02:13:20.500``, ``2023-11-19 03:13+01:00`` (a zoned
    timestamp in its zone, with the offset), ``08:30``, ``1d 02:00:00``, ``0.250 s``, with
    the fraction digits (0, 3, 6 or 9) the edges need. These show the integer thresholds the
    values are compared with, ``ceil(edge)`` (`_binning`): distinct thresholds never print
    alike, a bin holding one value reads ``"= 2023-11-19"``, and one between two edges with
    the same threshold (no value of the unit falls in it) ``"[A, A)"``. Edges out of
    Python's date range fall back to numbers. Otherwise (``None``, numbers) every edge gets the same number of significant
    digits, at least 4 and as many as keep adjacent edges apart (up to 17, which tell any two
    float64 apart); a bin ``[c, nextafter(c))`` (a constant baseline's) reads ``"= c"``.
    """
    e = [float(x) for x in np.asarray(edges, dtype=np.float64)]
    temporal = _temporal_labels(e, dtype)
    if temporal is not None:
        return temporal
    return _float_labels(e, integer=bool(dtype and _INTEGER.fullmatch(dtype)))


_INTEGER = re.compile(r"u?int(8|16|32|64)")


def _float_labels(e: list[float], integer: bool = False) -> list[str]:
    inner = e[1:-1]
    n = len(inner)
    if integer:  # integer x is in [lo, hi) iff ceil(lo) <= x < ceil(hi)
        tight = [math.ceil(inner[i + 1]) - math.ceil(inner[i]) == 1 for i in range(n - 1)]
    else:
        tight = [inner[i + 1] == math.nextafter(inner[i], _INF) for i in range(n - 1)]
    # a bin holding one value c alone ([c, nextafter(c)) for floats; for integers one whose
    # edges' ceilings differ by 1, not merely adjacent floats, which near 2**63 are 1024
    # apart): "= c", and the next starts "> c"; in a run of such bins every edge is shown,
    # and must be told apart
    single = {
        i
        for i in range(n - 1)
        if tight[i] and not (i > 0 and tight[i - 1]) and not (i + 1 < n - 1 and tight[i + 1])
    }
    texts: list[str] = []
    for digits in range(_MIN_DIGITS, 18):
        texts = [f"{x:.{digits}g}" for x in inner]
        if all(texts[i] != texts[i + 1] for i in range(n - 1) if i not in single):
            break
    labels = []
    for j, (lo, hi) in enumerate(itertools.pairwise(e)):
        if math.isinf(lo) and math.isinf(hi):
            labels.append("all")
        elif math.isinf(lo):
            labels.append(f"< {texts[0]}")
        elif j - 1 in single:
            labels.append(f"= {texts[j - 1]}")
        elif j - 2 in single:  # lo is nextafter(c): the values above c
            after = texts[j - 2]
            labels.append(f"> {after}" if math.isinf(hi) else f"({after}, {texts[j]})")
        elif math.isinf(hi):
            labels.append(f">= {texts[-1]}")
        else:
            labels.append(f"[{texts[j - 1]}, {texts[j]})")
    return labels


def _temporal_labels(e: list[float], dtype: str | None) -> list[str] | None:
    """Labels of a temporal column's bins, or None when ``dtype`` is not temporal or an edge
    is out of Python's date range."""
    parsed = _temporal_unit(dtype or "")
    if parsed is None:
        return None
    family, unit, zoned = parsed
    # an integer value x is in bin k iff x >= ceil(e_k) (`_binning._NumericPlan`)
    thresholds = [math.ceil(x) for x in e[1:-1]]
    try:
        if family == "date" and unit == "day":
            texts = [(date(1970, 1, 1) + timedelta(days=t)).isoformat() for t in thresholds]
        elif family in ("timestamp", "date"):  # date64 counts ms
            zone = _zone(dtype) if zoned else None  # type: ignore[arg-type]
            texts = _timestamps(thresholds, unit, zone)
        else:
            texts = _FORMAT[family](thresholds, unit)
    except (OverflowError, ValueError):
        return None
    text = dict(zip(thresholds, texts, strict=True))
    labels = []
    for lo, hi in itertools.pairwise([None, *thresholds, None]):
        if lo is None and hi is None:
            labels.append("all")
        elif lo is None:
            labels.append(f"< {text[hi]}")  # type: ignore[index]
        elif hi is None:
            labels.append(f">= {text[lo]}")
        elif hi == lo + 1:
            labels.append(f"= {text[lo]}")
        else:
            labels.append(f"[{text[lo]}, {text[hi]})")
    return labels


def _zone(dtype: str) -> tzinfo:
    """The time zone of a zoned timestamp type string; UTC when this system does not know it
    (the instants are right either way: Arrow stores them as UTC)."""
    from zoneinfo import ZoneInfo

    m = _TEMPORAL_TYPE.match(dtype)
    name = m.group(3) if m else "UTC"
    offset = _OFFSET.match(name or "")
    if offset:
        sign = -1 if offset.group(1) == "-" else 1
        return timezone(sign * timedelta(hours=int(offset.group(2)), minutes=int(offset.group(3))))
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError, OSError):  # ZoneInfoNotFoundError is a KeyError
        return UTC


def _split(values: list[int], unit: str) -> tuple[list[tuple[int, int]], int, Callable[[int], str]]:
    """(whole seconds and sub-second units of each value, fraction digits every value needs
    (0, 3, 6 or 9), the ``".fff"`` text of a sub-second part)."""
    digits = _FRACTION_DIGITS[unit]
    parts = [divmod(v, 10**digits) for v in values]
    shown = next(
        k for k in range(0, digits + 1, 3) if all(s % 10 ** (digits - k) == 0 for _, s in parts)
    )
    return parts, shown, lambda sub: f".{sub:0{digits}d}"[: shown + 1] if shown else ""


def _clock(h: int, m: int, s: int, fraction: str, seconds: bool) -> str:
    return f"{h:02d}:{m:02d}:{s:02d}{fraction}" if seconds else f"{h:02d}:{m:02d}"


def _timestamps(values: list[int], unit: str, zone: tzinfo | None) -> list[str]:
    """``YYYY-MM-DD`` when every value is a midnight (naive only), else ``YYYY-MM-DD HH:MM``
    with ``:SS`` and a fraction when some value needs them, and the UTC offset when zoned."""
    parts, shown, fraction = _split(values, unit)
    if zone is None:
        times = [_EPOCH + timedelta(seconds=s) for s, _ in parts]
    else:
        times = [(_EPOCH_UTC + timedelta(seconds=s)).astimezone(zone) for s, _ in parts]
    seconds = shown > 0 or any(t.second for t in times)
    dates = zone is None and not seconds and not any(t.hour or t.minute for t in times)
    out = []
    for t, (_, sub) in zip(times, parts, strict=True):
        text = f"{t.year:04d}-{t.month:02d}-{t.day:02d}"
        if not dates:
            text += " " + _clock(t.hour, t.minute, t.second, fraction(sub), seconds)
        if zone is not None:
            text += _offset(t.utcoffset() or timedelta(0))
        out.append(text)
    return out


def _offset(delta: timedelta) -> str:
    """``+01:00``, ``-03:30`` (``+00:00:12`` for an offset with seconds, as some old zones have)."""
    sign = "-" if delta < timedelta(0) else "+"
    m, s = divmod(int(abs(delta).total_seconds()), 60)
    return f"{sign}{m // 60:02d}:{m % 60:02d}" + (f":{s:02d}" if s else "")


def _times(values: list[int], unit: str) -> list[str]:
    """``HH:MM``, or ``HH:MM:SS`` with a fraction when some value needs them."""
    if any(v < 0 for v in values):
        raise ValueError("a time of day before midnight")
    parts, shown, fraction = _split(values, unit)
    seconds = shown > 0 or any(s % 60 for s, _ in parts)
    return [_clock(s // 3600, s // 60 % 60, s % 60, fraction(sub), seconds) for s, sub in parts]


def _durations(values: list[int], unit: str) -> list[str]:
    """Seconds (``"0.25 s"``) when every value is under a minute, else ``[-][Nd ]HH:MM:SS``
    with a fraction when some value needs one."""
    parts, _, fraction = _split([abs(v) for v in values], unit)
    short = all(s < 60 for s, _ in parts)
    out = []
    for v, (s, sub) in zip(values, parts, strict=True):
        sign = "-" if v < 0 else ""
        if short:
            out.append(f"{sign}{s}{fraction(sub)} s")
            continue
        days, s = divmod(s, 86_400)
        clock = _clock(s // 3600, s // 60 % 60, s % 60, fraction(sub), True)
        out.append(f"{sign}{days}d {clock}" if days else f"{sign}{clock}")
    return out


_FORMAT: dict[str, Callable[[list[int], str], list[str]]] = {
    "time": _times,
    "duration": _durations,
}
