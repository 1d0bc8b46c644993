"""The ledger: the one sink of a run. The model writes every request, attempt, file, PUT, batch,
lease operation, leader change, request count and byte into it; checks, summaries, plots and
costs read only the ledger (and the run folder written from it)."""

from sim.ledger.records import *  # noqa: F403
from sim.ledger.records import Ledger, RequestColumns

__all__ = ["Ledger", "RequestColumns"]
