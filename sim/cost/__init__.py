"""Cost of a run: the shipped price table and the pricing of a run's operation counts.

Depends only on numpy/pandas and sim.core; never on sim.model or sim.run. See
:mod:`sim.cost.price` for the contract between the ledger's counts and the cost block, and
:mod:`sim.cost.prices` for the price table's format.
"""

from sim.cost.price import GIB, format_cost, price_run, split_region
from sim.cost.prices import PriceFileError, PriceRow, PriceTable, load_prices

__all__ = [
    "GIB",
    "PriceFileError",
    "PriceRow",
    "PriceTable",
    "format_cost",
    "load_prices",
    "price_run",
    "split_region",
]
