"""`Move` and `Plan`: what placement would do, with bytes and cost, as a table or JSON."""

from __future__ import annotations

import hashlib
import io
import json
import time
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Move", "Plan"]


@dataclass(frozen=True)
class Move:
    """One planned change of one object.

    ``action`` is ``move`` (copy to ``dst`` in another store, then delete ``src``),
    ``class`` (change the storage class / access tier in place; ``dst == src``) or
    ``table`` (copy a data file of Iceberg table ``table`` to ``dst`` and commit the new
    location in a new snapshot; ``src`` stays for earlier snapshots until they expire). Costs are
    USD: ``monthly_before``/``monthly_after`` per month, ``one_time`` once (of which
    ``early_deletion``). ``flags`` name what needs attention: ``early_deletion``,
    ``offline_target`` (the target class cannot be read without a restore),
    ``kept_for_time_travel`` (a table move: the source stays, and is billed, until the
    snapshots that name it expire).
    """

    rule: str
    action: Literal["move", "class", "table"]
    src: str
    dst: str
    bytes: int
    src_class: str | None
    dst_class: str | None
    modified: float
    monthly_before: float = 0.0
    monthly_after: float = 0.0
    one_time: float = 0.0
    early_deletion: float = 0.0
    flags: tuple[str, ...] = ()
    overruled: tuple[str, ...] = ()
    table: str | None = None

    @property
    def id(self) -> str:
        """Stable id of the move: a hash of the source, destination and target class, and of
        the source's size and modification time, so an object rewritten at the same key after
        a move is a new move, not one the journal already has as done."""
        text = (
            f"{self.action}\0{self.src}\0{self.dst}\0{self.dst_class}"
            f"\0{self.bytes}\0{self.modified:.6f}"
        )
        return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:16]

    @property
    def reason(self) -> str:
        beaten = f" (over {', '.join(self.overruled)})" if self.overruled else ""
        return f"rule {self.rule!r}{beaten}"

    def to_dict(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in self.__dataclass_fields__}
        out["id"] = self.id
        out["reason"] = self.reason
        out["flags"] = list(self.flags)
        out["overruled"] = list(self.overruled)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Move:
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        fields["flags"] = tuple(fields.get("flags", ()))
        fields["overruled"] = tuple(fields.get("overruled", ()))
        return cls(**fields)


@dataclass
class Plan:
    """The moves placement would make, and the cost of the scanned objects before and after.

    ``monthly_before``/``monthly_after``: USD per month for every scanned object (those under
    some rule's pattern), now and once the plan is applied. ``skipped``: objects a rule
    matched but that cannot move (e.g. in an offline class), with the reason.
    ``created``: when the plan was made (POSIX seconds, wall clock; moves journaled done
    since then are skipped when the plan is applied again); ``as_of``: the time ages were
    measured from.
    """

    moves: list[Move] = field(default_factory=list)
    scanned_objects: int = 0
    scanned_bytes: int = 0
    monthly_before: float = 0.0
    monthly_after: float = 0.0
    skipped: list[dict[str, Any]] = field(default_factory=list)
    created: float = field(default_factory=time.time)
    as_of: float | None = None

    @property
    def bytes(self) -> int:
        """Bytes the plan moves or re-classes."""
        return sum(m.bytes for m in self.moves)

    @property
    def one_time(self) -> float:
        return sum(m.one_time for m in self.moves)

    @property
    def monthly_delta(self) -> float:
        """Change of the monthly bill (negative: the plan saves money)."""
        return self.monthly_after - self.monthly_before

    def to_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "as_of": self.as_of,
            "scanned_objects": self.scanned_objects,
            "scanned_bytes": self.scanned_bytes,
            "moves": len(self.moves),
            "bytes": self.bytes,
            "monthly_cost_before_usd": round(self.monthly_before, 6),
            "monthly_cost_after_usd": round(self.monthly_after, 6),
            "monthly_delta_usd": round(self.monthly_delta, 6),
            "one_time_cost_usd": round(self.one_time, 6),
            "flags": sorted({f for m in self.moves for f in m.flags}),
            "items": [m.to_dict() for m in self.moves],
            "skipped": self.skipped,
        }

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **{"indent": 2, **kwargs})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        return cls(
            moves=[Move.from_dict(m) for m in data.get("items", [])],
            scanned_objects=data.get("scanned_objects", 0),
            scanned_bytes=data.get("scanned_bytes", 0),
            monthly_before=data.get("monthly_cost_before_usd", 0.0),
            monthly_after=data.get("monthly_cost_after_usd", 0.0),
            skipped=data.get("skipped", []),
            created=data.get("created", time.time()),
            as_of=data.get("as_of"),
        )

    def to_table(self, limit: int | None = 50) -> Any:
        """A ``rich.table.Table`` of the first ``limit`` moves (all with ``None``) and totals."""
        from rich.table import Table

        table = Table(title=f"placement plan: {len(self.moves)} moves, {_human(self.bytes)}")
        for col in (
            "rule",
            "action",
            "from",
            "to",
            "bytes",
            "$/mo before",
            "$/mo after",
            "one-time $",
            "flags",
        ):
            table.add_column(col, justify="right" if "$" in col or col == "bytes" else "left")
        shown = self.moves if limit is None else self.moves[:limit]
        for m in shown:
            to = m.dst if m.action != "class" else f"{m.dst_class} (in place)"
            frm = m.src if m.action != "class" else f"{m.src} [{m.src_class}]"
            if m.table:
                frm = f"{frm} (table {m.table})"
            table.add_row(
                m.reason,
                m.action,
                frm,
                to,
                _human(m.bytes),
                f"{m.monthly_before:.4f}",
                f"{m.monthly_after:.4f}",
                f"{m.one_time:.4f}",
                ",".join(m.flags),
            )
        if len(shown) < len(self.moves):
            table.add_row(
                f"... {len(self.moves) - len(shown)} more", "", "", "", "", "", "", "", ""
            )
        table.caption = (
            f"scanned {self.scanned_objects} objects ({_human(self.scanned_bytes)}); monthly cost "
            f"${self.monthly_before:.4f} -> ${self.monthly_after:.4f} "
            f"({self.monthly_delta:+.4f}); one-time ${self.one_time:.4f}"
            + (f"; {len(self.skipped)} skipped" if self.skipped else "")
        )
        return table

    def render(self, limit: int | None = 50, width: int = 160) -> str:
        """The table as plain text."""
        from rich.console import Console

        buf = io.StringIO()
        Console(file=buf, width=width, no_color=True).print(self.to_table(limit))
        return buf.getvalue()

    def __str__(self) -> str:
        return self.render()


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"
