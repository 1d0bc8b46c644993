"""Named, independent random streams derived from one root seed.

Every consumer of randomness asks for a stream by name (``workload.us-east-1.p0``, ``storage``,
``network``, ``faults`` ...). A stream's generator is seeded from ``(root_seed, crc32(name))`` so
streams are independent of each other and of the order in which they are created: adding a fault
or a component does not change the draws of any other stream. Runs of two designs on the same seed
are therefore a paired comparison (common random numbers).

Draws in the hot path come from pre-generated blocks (``Block``), which keeps per-draw cost to an
index increment instead of a numpy call.
"""

from __future__ import annotations

import zlib

import numpy as np

_BLOCK = 4096


def stream_seed(root_seed: int, name: str) -> np.random.SeedSequence:
    """The seed sequence of the stream ``name`` under ``root_seed``."""
    return np.random.SeedSequence([int(root_seed) & 0xFFFFFFFFFFFFFFFF, zlib.crc32(name.encode())])


class Block:
    """Standard normal and uniform draws from one generator, handed out one at a time."""

    __slots__ = ("gen", "_z", "_zi", "_u", "_ui")

    def __init__(self, gen: np.random.Generator):
        self.gen = gen
        # Python lists: indexing one gives a Python float (a numpy array gives a numpy scalar,
        # several times slower to make and to convert)
        self._z = gen.standard_normal(_BLOCK).tolist()
        self._zi = 0
        self._u = gen.random(_BLOCK).tolist()
        self._ui = 0

    def normal(self) -> float:
        """One standard normal draw."""
        i = self._zi
        if i >= _BLOCK:
            self._z = self.gen.standard_normal(_BLOCK).tolist()
            i = 0
        self._zi = i + 1
        return self._z[i]

    def uniform(self) -> float:
        """One uniform draw in [0, 1)."""
        i = self._ui
        if i >= _BLOCK:
            self._u = self.gen.random(_BLOCK).tolist()
            i = 0
        self._ui = i + 1
        return self._u[i]


class Streams:
    """The run's random streams, created on first use and cached by name."""

    def __init__(self, root_seed: int):
        self.root_seed = int(root_seed)
        self._gens: dict[str, np.random.Generator] = {}
        self._blocks: dict[str, Block] = {}

    def gen(self, name: str) -> np.random.Generator:
        """The numpy generator of stream ``name``."""
        g = self._gens.get(name)
        if g is None:
            g = np.random.default_rng(stream_seed(self.root_seed, name))
            self._gens[name] = g
        return g

    def block(self, name: str) -> Block:
        """Scalar draws of stream ``name`` (a separate generator from ``gen(name)``)."""
        b = self._blocks.get(name)
        if b is None:
            b = Block(np.random.default_rng(stream_seed(self.root_seed, name + "#block")))
            self._blocks[name] = b
        return b


def draw_root_seed() -> int:
    """A fresh root seed, for runs whose scenario names none (it is then recorded)."""
    return int(np.random.SeedSequence().entropy % (2**31 - 1))
