"""Invariants checked on every run, reported in ``summary.json`` as ``checks``.

Each check reads only the run's tables and the ledger, and answers ``{ok, allowed, checked,
detail}``: ``ok`` false is a violation, unless the design declares that anomaly allowed
(``allowed``: asynchronous bucket replication may lose writes; an eventually consistent table may
lose writes, split leadership and leave gaps in the offsets); ``checked`` false means its
precondition was never reached in this run (a check that never had a chance to fail proves
nothing). Names follow Jepsen's queue checkers where they apply:

- ``lost-write``: no acknowledged record lost while the faults stayed within what the design
  survives (data destroyed in at most n - k buckets' sites); beyond that, losses are counted and
  not a violation;
- ``duplicate``: every acknowledged record in the final log once;
- ``inconsistent-offsets``: the final log's offsets unique and gap-free;
- ``unseen``: committed files a live consumer has not received yet at the end (counted apart,
  never a violation: "committed but not yet seen" is not "lost");
- ``poll-skip``: a consumer that stayed up never misses a committed file that it had the time
  to read (committed more than ``recovery_bound`` before the end);
- ``one-committer-per-epoch``: at most one region commits per lease epoch;
- ``ack-after-quorum-and-commit``: every acknowledgement follows its file's quorum and commit;
- ``healed``: every fault that is not permanent ended, and every effect it made ended with it;
- ``recovers`` (liveness): after the last fault heals, acknowledgements resume and throughput is
  back to 80% of its pre-fault level within ``run.recovery_bound``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.ledger import ACKED
from sim.ledger.records import PUT_OK
from sim.run.checks import as_table

INF = np.inf


def allowed_anomalies(sc) -> set[str]:
    """The anomalies a design admits by construction."""
    out: set[str] = set()
    if sc.storage.replication == "async":
        out.add("lost-write")
    if sc.table.kind == "eventual":
        out |= {"lost-write", "one-committer-per-epoch", "inconsistent-offsets", "duplicate"}
    return out


def _result(name, ok: bool, allowed: set[str], detail: str, checked: bool = True) -> dict:
    return {"ok": bool(ok or name in allowed), "violated": not ok, "allowed": name in allowed,
            "checked": checked, "detail": detail}  # fmt: skip


def inputs_from_ledger(led, log) -> dict:
    """What the checks need from the ledger besides the run's tables; ``log``: the table's
    final metadata log (``sim.run.checks.final_log``)."""
    return {
        "destroyed_sites": sorted(
            s for s in led.bucket_regions if led.histories[f"bucket:{s}"].destroyed_at < INF
        ),
        "n_sites": len(led.bucket_regions),
        "sites": list(led.bucket_regions),
        "log": _log_array(log),
        "files_twice": _files_twice(log),
        "consumers_went_down": [
            len(h.t) > 1 for n, h in led.histories.items() if n.startswith("consumer:")
        ],
        "fenced": int(led.tallies.get("fenced", 0)),
    }


def _log_array(log) -> np.ndarray:
    """The final log's (first offset, records) per entry, sorted: an n x 2 integer array
    (an entry's rows are consecutive, one per file)."""
    log = as_table(log)
    bid = log.column("batch_id")
    start = np.ones(len(bid), dtype=bool)
    start[1:] = bid[1:] != bid[:-1]
    del bid
    first = log.column("first_offset")[start]
    recs = log.column("n_records")[start]
    order = np.lexsort((recs, first))
    return np.column_stack([first[order], recs[order]])


def _files_twice(log) -> int:
    """Files whose metadata the final log holds in more than one entry (a commit re-applied)."""
    counts = np.bincount(as_table(log).column("file_id"))
    return int(np.count_nonzero(counts > 1))


def check_all(sc, requests, files, batches, receipts, lost_records: int, dup_records: int,
              faults: list[dict], effects: pd.DataFrame, *, destroyed_sites: list[str],
              n_sites: int, log, consumers_went_down: list[bool],
              fenced: int, leader: pd.DataFrame | None = None, files_twice: int = 0,
              lost_in_quorum: int = 0, sites: list[str] | None = None) -> dict:  # fmt: skip
    """Every invariant of the run (see the module docstring); the keyword inputs come from
    ``inputs_from_ledger``. ``requests``, ``files`` and ``batches`` are the run's tables
    (``sim.ledger.tables.Table``, read a column or a row group at a time) or DataFrames."""
    requests, files, batches = as_table(requests), as_table(files), as_table(batches)
    allowed = allowed_anomalies(sc)
    end = sc.run.duration
    out = {}
    # lost-write, within the survivable budget
    destroyed = destroyed_sites
    budget = n_sites - sc.storage.quorum
    within = len(destroyed) <= budget
    detail = (
        f"{lost_records:,} acknowledged records lost ({lost_in_quorum:,} of them from files whose "
        f"data still had a quorum of surviving copies); data destroyed in {len(destroyed)} "
        f"bucket site(s) {destroyed}, the design survives {budget}"
    )
    # beyond the budget a loss is counted, not a violation, unless its data kept its quorum
    out["lost-write"] = _result(
        "lost-write", lost_records == 0 or (not within and lost_in_quorum == 0), allowed, detail,
        checked=bool(destroyed) or lost_records > 0,
    )  # fmt: skip
    out["duplicate"] = _result(
        "duplicate", dup_records == 0 and files_twice == 0, allowed,
        f"{dup_records:,} records in the log twice; {files_twice:,} file(s) committed twice",
    )  # fmt: skip
    # offsets of the final log
    log = np.asarray(log, dtype=np.int64).reshape(-1, 2)
    nxt = log[:-1, 0] + log[:-1, 1]
    gaps = int(np.count_nonzero(log[1:, 0] > nxt))
    overlaps = int(np.count_nonzero(log[1:, 0] < nxt))
    out["inconsistent-offsets"] = _result(
        "inconsistent-offsets", gaps == 0 and overlaps == 0, allowed,
        f"{len(log):,} batches in the final log: {gaps} gap(s), {overlaps} overlap(s)",
    )  # fmt: skip
    # consumers: unseen (not a violation) and skips
    out.update(_consumer_checks(sc, consumers_went_down, files, receipts, allowed))
    # one committer per epoch
    batches = batches.frame(["epoch", "region", "applied_s"])
    b = batches[batches["epoch"] >= 0] if len(batches) else batches
    multi = b.groupby("epoch")["region"].nunique() if len(b) else pd.Series(dtype=int)
    bad = [int(e) for e, n in multi.items() if n > 1]
    # no commit of an epoch applied after a newer epoch's lease was taken (a deposed leader)
    deposed = 0
    if leader is not None and len(leader) and len(b):
        lt = leader.sort_values("t_s", kind="stable")
        taken = lt.groupby("epoch")["t_s"].min()  # when each epoch's lease was first taken
        # the earliest take of any newer epoch: a suffix minimum over the sorted epochs
        ep = taken.index.to_numpy()
        suffix = np.append(np.minimum.accumulate(taken.to_numpy()[::-1])[::-1], INF)
        newer = suffix[np.searchsorted(ep, b["epoch"].to_numpy(), side="right")]
        deposed = int((b["applied_s"].to_numpy() > newer).sum())
    out["one-committer-per-epoch"] = _result(
        "one-committer-per-epoch", not bad and deposed == 0, allowed,
        f"{len(multi)} epoch(s) with commits; more than one region in {bad[:5] or 'none'}; "
        f"{deposed} batch(es) applied after a newer lease; {fenced} commit(s) from deposed "
        "leaders fenced by the table",
        checked=len(multi) > 1 or fenced > 0,
    )  # fmt: skip
    # acknowledgement after quorum and commit: per acknowledged request, its file's quorum and
    # commit times and the PUTs the storage recorded as landed (not the writer's word), read a
    # row group of requests at a time against per-file columns
    n_acked = early = short = 0
    if len(files):
        fid = files.column("file_id")
        row = np.full(int(fid.max()) + 1, -1, dtype=np.int64)
        row[fid] = np.arange(len(fid))
        fq, fc = files.column("quorum_s"), files.column("metadata_committed_s")
        k = 1 if sc.storage.replication == "async" else sc.storage.quorum
        puts = [
            (files.column(f"put_state[{s}]"), files.column(f"put_end_s[{s}]"))
            for s in sites or []
        ]  # fmt: skip
        for ch in requests.chunks(["status", "ack_file", "ack_s"]):
            is_acked = (ch["status"] == ACKED).to_numpy()
            if not is_acked.any():
                continue
            n_acked += int(is_acked.sum())
            rows = row[ch["ack_file"].to_numpy()[is_acked]]
            if (rows < 0).any():
                raise KeyError("an acknowledged request names a file not in the files table")
            q, c = fq[rows], fc[rows]
            ack = ch["ack_s"].to_numpy()[is_acked]
            early += int((~(q <= c) | ~(c <= ack)).sum())
            landed = np.zeros(len(rows), dtype=int)
            for st, e in puts:
                landed += (st[rows] == PUT_OK) & (e[rows] <= ack + 1e-9)
            short += int((landed < k).sum()) if sites else 0
    out["ack-after-quorum-and-commit"] = _result(
        "ack-after-quorum-and-commit", early == 0 and short == 0, allowed,
        f"{early:,} of {n_acked:,} acknowledged requests acked before their file's quorum "
        f"and commit; {short:,} acked with fewer successful PUTs than the quorum",
    )  # fmt: skip
    out["healed"] = _healed(faults, effects, allowed)
    out["recovers"] = _recovers(sc, requests, faults, allowed, end)
    return out


def _consumer_checks(sc, went_down: list[bool], files, receipts, allowed) -> dict:
    end = sc.run.duration
    if len(files) == 0 or len(receipts) == 0:
        return {
            "unseen": _result("unseen", True, allowed, "no committed file", checked=False),
            "poll-skip": _result("poll-skip", True, allowed, "no committed file", checked=False),
        }
    fid = files.column("file_id")
    row = np.full(int(max(fid.max(), receipts["file_id"].max())) + 1, -1, dtype=np.int64)
    row[fid] = np.arange(len(fid))
    r = row[receipts["file_id"].to_numpy(dtype=np.int64)]
    if (r < 0).any():
        raise KeyError("a receipt names a file not in the files table")
    readable = files.column("readable_at_end").astype(bool)[r]
    c = files.column("metadata_committed_s")[r][readable]
    receipt = receipts["receipt_s"].to_numpy(dtype=np.float64)[readable]
    consumer = receipts["consumer"].to_numpy()[readable]
    missing = np.isnan(receipt) | (receipt > end)
    unseen = int(missing.sum())
    old = c < end - sc.run.recovery_bound
    skips = 0
    for ci in pd.unique(consumer):
        if went_down[int(ci)]:
            continue  # a consumer that went down: the model does not replay its missed polls
        skips += int(((consumer == ci) & missing & old).sum())
    return {
        "unseen": {"ok": True, "violated": False, "allowed": True, "checked": unseen > 0,
                   "detail": f"{unseen:,} committed file receipts not yet seen at the end"},
        "poll-skip": _result("poll-skip", skips == 0, allowed,
                             f"{skips:,} committed files never read by a consumer that stayed up"),
    }  # fmt: skip


def _healed(faults: list[dict], effects: pd.DataFrame, allowed) -> dict:
    bad = []
    for f in faults:
        if f.get("permanent") or f.get("action"):
            continue
        eff = effects[effects["fault"] == f["id"]] if len(effects) else effects
        if f.get("end_s") is None:
            bad.append(f"{f['label']} on {f['target']} never ended")
        elif len(eff) and (eff["end_s"].isna().any() or (eff["end_s"] > f["end_s"] + 1e-9).any()):
            bad.append(f"{f['label']} on {f['target']}: an effect outlived the fault")
    n = sum(1 for f in faults if not f.get("permanent") and not f.get("action"))
    return _result(
        "healed", not bad, allowed,
        "; ".join(bad) if bad else f"{n} fault(s) healed at their recorded end",
        checked=n > 0,
    )  # fmt: skip


def _recovers(sc, requests, faults, allowed, end: float) -> dict:
    spans = [f for f in faults if not f.get("action")]
    if not spans:
        return _result("recovers", True, allowed, "no fault", checked=False)
    if any(f.get("permanent") or f.get("end_s") is None for f in spans):
        last = max(f["start_s"] for f in spans)
    else:
        last = max(f["end_s"] for f in spans)
    first = min(f["start_s"] for f in spans)
    bound = sc.run.recovery_bound
    if last + bound + 10.0 > end or first - sc.run.warmup < 10.0:
        return _result(
            "recovers", True, allowed,
            f"not checked: the run ends {end - last:.0f} s after the last fault heals (needs "
            f"{bound:.0f} s and a 10 s window), or starts too close to the first fault",
            checked=False,
        )  # fmt: skip
    lo, hi = last + bound, last + bound + 10.0
    # offered load is what the live producers send: acknowledged against sent in one window
    sent = got = 0
    for ch in requests.chunks(["ack_s", "send_s", "n_records"]):
        ack = ch["ack_s"].to_numpy()
        send = ch["send_s"].to_numpy()
        nrec = ch["n_records"].to_numpy()
        sent += nrec[(send >= lo) & (send < hi)].sum()
        got += nrec[np.isfinite(ack) & (ack >= lo) & (ack < hi)].sum()
    ok = sent == 0 or got >= 0.8 * sent
    return _result(
        "recovers", ok, allowed,
        f"{got / 10:,.0f} records/s acknowledged against {sent / 10:,.0f} sent, {bound:.0f} s "
        "after the last heal (needs 80%)",
    )  # fmt: skip
