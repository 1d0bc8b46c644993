"""The fault surface: the one way a fault (or an operator action) touches the model.

A fault never reaches into the model's objects. It names *what* it acts on with a ``Select``
(a part of the system, in a region, optionally in a zone) and asks the surface for one of a few
effects. Each effect returns a ``Heal`` that undoes exactly that effect, once (calling it again
does nothing), so a fault's heal is the list of heals of what it did. The surface records every
effect in the ledger (fault, component, effect, from, to): plots shade it, and tests check that
every fault touched its components exactly between its start and its end.

Parts (``Part``): ``bucket``, ``table-replica``, ``table-leader`` (the table's internal leader
role in a region), ``table-replication`` (eventually consistent tables: replication out of a
region), ``control-plane``, ``agent``, ``producer``, ``consumer``, ``link`` (links are selected
by their two ends with ``cut`` and ``degrade``). ``Select(None, region)`` is everything in a
region, links into and out of it included.

Effects: hold down (data kept, or destroyed for good), slow, fail a fraction of requests,
reduce a control plane's capacity, cut links, degrade a path, scale the producers' load, move
producers or consumers to another region, pin (or release) the preferred leader region, skew a
control plane's clock. ``after`` runs a step of a fault that has a timeline of its own (a crash
loop, a rollout); ``note`` writes a line in the run's event log.

The model's implementation is :class:`sim.run.world.World`; a fuzzer or a test can drive any
implementation of this protocol blindly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, Protocol

from sim.core.latency import Slowdown


class Part(StrEnum):
    """The parts of the system a fault can select."""

    BUCKET = "bucket"
    TABLE_REPLICA = "table-replica"
    TABLE_LEADER = "table-leader"
    TABLE_REPLICATION = "table-replication"
    CONTROL_PLANE = "control-plane"
    AGENT = "agent"
    PRODUCER = "producer"
    CONSUMER = "consumer"


@dataclass(frozen=True)
class Select:
    """Components of one part (None: every part, links included) in a region (None: every
    region), optionally only those in one zone."""

    part: Part | None = None
    region: str | None = None
    zone: str | None = None


class Heal:
    """Undo one effect, once; ``__call__(t)`` at true time ``t``."""

    __slots__ = ("_undo", "done")

    def __init__(self, undo: Callable[[float], None]):
        self._undo = undo
        self.done = False

    def __call__(self, t: float) -> None:
        if not self.done:
            self.done = True
            self._undo(t)


def heal_all(heals: list[Heal]) -> Heal:
    """One heal for several effects (undone in reverse order)."""
    return Heal(lambda t: [h(t) for h in reversed(heals)] and None)


NO_EFFECT = Heal(lambda t: None)

ClientKind = Literal["producers", "consumers"]


class FaultSurface(Protocol):
    """What a fault may see and do. Times are true simulated seconds."""

    regions: list[str]

    @property
    def now(self) -> float:
        """The current simulated time."""

    def zones(self, region: str) -> list[str]:
        """The zones of a region (``us-east-1a`` ...)."""

    def control_plane_regions(self) -> list[str]:
        """Regions that run a control plane."""

    def leader(self) -> str | None:
        """The region that leads now (a control plane that believes it holds the lease), or
        the lease holder as the table records it."""

    def table_leader(self) -> str | None:
        """The region of the metadata table's internal leader (None for kinds without one)."""

    def select(self, sel: Select) -> list[str]:
        """The names of the components ``sel`` matches now."""

    def hold_down(self, sel: Select, destroy_data: bool = False) -> Heal:
        """Hold every selected component down; with ``destroy_data`` the selected buckets and
        table replicas are destroyed for good (their heal does not bring them back)."""

    def slow(self, sel: Select, slowdown: Slowdown) -> Heal:
        """Slow every selected component."""

    def fail_fraction(self, sel: Select, rate: float) -> Heal:
        """Make every selected component fail a fraction ``rate`` of its requests."""

    def reduce_capacity(self, sel: Select, factor: float) -> Heal:
        """Leave only a fraction ``factor`` of the selected control planes' instances."""

    def cut(self, pairs: list[tuple[str, str]]) -> Heal:
        """Cut the directed links ``(src, dst)``."""

    def degrade(self, a: str, b: str, slowdown: Slowdown, loss: float) -> Heal:
        """Degrade both directions of the path between ``a`` and ``b``."""

    def scale_load(self, region: str | None, multiplier: float) -> Heal:
        """Producers in ``region`` (None: all) send ``multiplier`` times their rate."""

    def move_clients(self, kind: ClientKind, src: str, dst: str) -> Heal:
        """Producers or consumers of region ``src`` move to region ``dst``."""

    def prefer(self, region: str) -> None:
        """Operator action: set every control plane's preferred region (``auto``: back to auto)."""

    def skew_clock(self, region: str, offset: float, drift: float) -> Heal:
        """The region's control-plane clock reads ``offset`` off and drifts ``drift`` s/s."""

    def after(self, delay: float, step: Callable[[], None]) -> None:
        """Run ``step`` ``delay`` seconds from now (a fault's own timeline)."""

    def note(self, kind: str, text: str) -> None:
        """A line in the run's event log."""
