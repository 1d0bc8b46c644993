"""Agents: buffer produce requests, flush files to a quorum of buckets, commit their metadata.

An agent is stateless. Every ``batch_timeout`` (default 250 ms, WarpStream docs, write path) or
when its buffer reaches ``max_file_size`` (default 8 MiB, same source), whichever comes first, it
flushes everything buffered as one file. Each file then goes through, in its own process:

1. **Quorum PUT.** Parallel PUTs to every bucket; the file is durable once ``quorum`` of them
   succeeded (``storage.quorum_time``). A PUT to an unreachable bucket hangs until the S3 retry
   timeout (2 s, then 4 s: AWS S3 performance guidelines); a 500/503 answers at once; both are
   retried up to ``put_attempts`` times. PUTs still running at quorum go on in the background and
   are recorded with their predicted end; a failed one is repaired later (checked after the run).
2. **Metadata commit** to the leader's control plane: redirect when told "not leader", fall back
   to the next-nearest region after ``commit_timeout`` without an answer (2 s, an estimate), back
   off on "no leader yet" or "unavailable". The control plane assigns offsets.
3. **Acknowledgement** to the producers, only once both the quorum and the commit succeeded.

If the file cannot complete before its oldest request's ``request_timeout`` the producers give up
on that attempt and retry; a commit that lands after that still counts in the log (a duplicate if
the retry lands too). Model time is spent only per file, never per request or record: a file's
requests are numpy arrays updated in one assignment.
"""

from __future__ import annotations

import math

import numpy as np

from sim.core.latency import NO_SLOWDOWN, LogNormal
from sim.core.rng import Block
from sim.ledger import (
    ACKED,
    F_ACKED,
    F_FAILED,
    F_LOST_AGENT,
    FAILED_TIMEOUT,
    PENDING,
    PRODUCER_DIED,
    PUT_FAILED,
    PUT_NOT_SENT,
    PUT_OK,
    PUT_PREDICTED,
    PUT_REPLICA,
    Ledger,
)  # fmt: skip
from sim.model.clients import _NO_IDS, _NO_TIMES, Producer, backoff
from sim.model.component import INF, Component
from sim.model.control_plane import ControlPlane
from sim.model.network import Network
from sim.model.storage import S3_RETRY_TIMEOUTS_S, Bucket

Z9999 = 3.7190164854556804  # standard normal quantile at 0.9999


class Router:
    """Where producers' retries go: their agent if it is up, else the nearest live one."""

    def __init__(
        self, env, cfg, agents: list, producers: list[Producer], net: Network, ledger: Ledger, gen
    ):
        self.env = env
        self.cfg = cfg
        self.agents = agents
        self.producers = producers
        self.net = net
        self.ledger = ledger
        self.gen = gen
        self.retries = 0
        self.producers_failed = False  # set once any producer has been down (slow path on ack)

    def fallback_agent(self, p: Producer):
        """The live agent a producer turns to: same zone, then same region, then nearest region."""

        def key(a):
            return (
                a.region != p.region,
                a.zone != p.zone,
                self.net.base_s[(p.region, a.region)],
                a.idx,
            )

        live = [a for a in self.agents if a.is_up]
        return min(live, key=key) if live else p.home_agent

    def retry(self, ids: np.ndarray, t_err: np.ndarray) -> None:
        """The producers of ``ids`` learned at ``t_err`` that their attempt failed: retry or give up."""
        if len(ids) == 0:
            return
        req = self.ledger.requests
        keep = req["status"][ids] == PENDING
        ids, t_err = ids[keep], t_err[keep]
        if len(ids) == 0:
            return
        prods = req["producer"][ids]
        for pi in np.unique(prods):
            sel = prods == pi
            p = self.producers[pi]
            pids, pt = ids[sel], t_err[sel]
            if not p.is_up:
                req["status"][pids] = PRODUCER_DIED
                req["end_s"][pids] = np.maximum(
                    req["send_s"][pids], p.first_down_after(float(req["send_s"][pids].min()))
                )
                continue
            att = req["attempts"][pids]
            t_retry = pt + backoff(self.cfg, att.astype(np.float64), self.gen.random(len(pids)))
            deadline = req["send_s"][pids] + self.cfg.delivery_timeout
            late = t_retry >= deadline
            if late.any():
                req["status"][pids[late]] = FAILED_TIMEOUT
                req["end_s"][pids[late]] = deadline[late]
            go = ~late
            if not go.any():
                continue
            target = p.agent if p.agent is not None and p.agent.is_up else self.fallback_agent(p)
            self.retries += int(go.sum())
            req["attempts"][pids[go]] += 1
            target.retry_in.append((t_retry[go], pids[go]))


class Agent(Component):
    """One agent in one zone."""

    def __init__(
        self,
        env,
        idx: int,
        region: str,
        zone: str,
        cfg,
        storage_cfg,
        net: Network,
        buckets: list[Bucket],
        cps: dict[str, ControlPlane],
        ledger: Ledger,
        counters: dict,
        block: Block,
    ):
        super().__init__(f"agent:{zone}:{idx}", region, zone)
        self.env = env
        self.idx = idx
        self.cfg = cfg
        self.scfg = storage_cfg
        self.net = net
        self.buckets = buckets
        self.cps = cps
        self.ledger = ledger
        self.counters = counters
        self.block = block
        self.router: Router | None = None
        self.producers: list[Producer] = []
        self.retry_in: list[tuple[np.ndarray, np.ndarray]] = []
        self.leader_hint: str | None = None
        self.suspect_until: dict[str, float] = {}
        self.cp_order = net.nearest(region, sorted(cps))
        regions_b = [b.region for b in buckets]
        self.home_bucket = regions_b.index(net.nearest(region, regions_b)[0])
        self.replication_lag = LogNormal(
            storage_cfg.replication_lag_p50,
            math.log(storage_cfg.replication_lag_p9999 / storage_cfg.replication_lag_p50) / Z9999,
        )
        self.region_index = {r: i for i, r in enumerate(ledger.regions)}

    def start(self) -> None:
        """Start the flush loop."""
        self.env.process(self._flush_loop())

    # -- buffering -----------------------------------------------------------------------------
    def _collect(self, now: float) -> tuple[np.ndarray, np.ndarray]:
        """Requests that reached this agent by ``now``: (ids, arrival times)."""
        ids_l, arr_l = [], []
        one_way_zone = 0.5 * self.net.zone_rtt(self.zone, self.zone)
        for p in list(self.producers):
            if p.agent is not self:
                continue
            ids, t = p.take_until(now - one_way_zone)
            if len(ids):
                ids_l.append(ids)
                arr_l.append(t + 0.5 * self.net.zone_rtt(p.zone, self.zone))
        had_retries = bool(self.retry_in)
        if had_retries:
            keep = []
            for t, ids in self.retry_in:
                m = t <= now
                if m.all():
                    ids_l.append(ids)
                    arr_l.append(t)
                elif m.any():
                    ids_l.append(ids[m])
                    arr_l.append(t[m])
                    keep.append((t[~m], ids[~m]))
                else:
                    keep.append((t, ids))
            self.retry_in = keep
        if not ids_l:
            return _NO_IDS, _NO_TIMES
        if len(ids_l) == 1:
            ids, arr = ids_l[0], arr_l[0]
        else:
            ids = np.concatenate(ids_l)
            arr = np.concatenate(arr_l)
        if had_retries:
            alive = self.ledger.requests["status"][ids] == PENDING
            if not alive.all():
                return ids[alive], arr[alive]
        return ids, arr

    def _bounce(self, ids: np.ndarray, arrive: np.ndarray) -> None:
        """Requests sent to this agent while it is down: the producers time out and retry."""
        if len(ids) == 0:
            return
        self._abandon(ids, arrive)
        req = self.ledger.requests
        for pi in np.unique(req["producer"][ids]):
            p = self.router.producers[pi]
            if p.agent is self:
                p.switch_at = min(p.switch_at, float(arrive.min()) + self.cfg_request_timeout)

    def _reroute_producers(self, now: float) -> None:
        """Producers notice a dead agent after their request timeout, and come back when it is up."""
        for p in self.router.producers:
            if p.agent is self and not self.is_up and now >= p.switch_at:
                new = self.router.fallback_agent(p)
                if new is not self:
                    p.agent = new
                    new.producers.append(p)
                    p.switch_at = INF
            elif p.home_agent is self and p.agent is not self and self.is_up:
                p.agent = self
                p.switch_at = INF
                if p not in self.producers:
                    self.producers.append(p)

    def _flush_loop(self):
        """Process: flush the buffer every batch_timeout, or sooner when it would exceed max_file_size."""
        env, cfg = self.env, self.cfg
        yield env.timeout(cfg.batch_timeout * self.block.uniform())  # agents out of phase
        while True:
            rate = sum(p.byte_rate() for p in self.producers if p.agent is self)
            interval = cfg.batch_timeout
            if rate > 0:
                interval = min(interval, cfg.max_file_size / rate)
            yield env.timeout(interval)
            now = env.now
            if self.router.producers_failed:
                self._reroute_producers(now)
            ids, arrive = self._collect(now)
            if not self.is_up:
                self._bounce(ids, arrive)
                continue
            if len(ids) == 0:
                continue
            cum = np.cumsum(self.ledger.requests["bytes"][ids])
            if cum[-1] <= cfg.max_file_size:
                parts = [(ids, arrive, int(cum[-1]))]
            else:  # split at max_file_size
                part = (cum - 1) // cfg.max_file_size
                sizes = self.ledger.requests["bytes"]
                parts = []
                for k in np.unique(part):
                    sel = part == k
                    parts.append((ids[sel], arrive[sel], int(sizes[ids[sel]].sum())))
            for f_ids, f_arrive, f_size in parts:
                fid = self.counters["files"]
                self.counters["files"] = fid + 1
                env.process(self._write_file(fid, f_ids, f_arrive, f_size))

    # -- one file ------------------------------------------------------------------------------
    @property
    def cfg_request_timeout(self) -> float:
        return self.router.cfg.request_timeout

    def _plan_put(self, b: Bucket, t_issue: float, attempt: int, size: int) -> tuple[float, bool]:
        """When the PUT attempt issued at ``t_issue`` ends, and whether it would succeed."""
        timeout = S3_RETRY_TIMEOUTS_S[min(attempt, len(S3_RETRY_TIMEOUTS_S) - 1)]
        src, dst = self.region, b.region
        net = self.net
        if len(b._hist_t) > 1 or net.degraded or net.partitioned:
            reach = b.up_at(t_issue)
            if reach and src != dst:
                links = net.links
                reach = links[(src, dst)].up_at(t_issue) and links[(dst, src)].up_at(t_issue)
            if not reach:
                return t_issue + timeout, False
            rtt = net.rtt(src, dst)
        else:  # fast path: nothing on this path has ever failed or been degraded
            rtt = net.base_s[(src, dst)] - net.jitter_s * math.log1p(-net.block.uniform())
            if not b._error_rates and b._slow is NO_SLOWDOWN:
                put = b.profile.put
                lat = (
                    rtt
                    + put.median_s * math.exp(put.sigma * b.block.normal())
                    + size / b.profile.throughput_bps
                )
                if lat > timeout:
                    return t_issue + timeout, False
                return t_issue + lat, True
        if b.error_rate and b.fails_request():
            return t_issue + rtt + 0.002, False
        lat = rtt + b.put_service_time(size)
        if lat > timeout:
            return t_issue + timeout, False
        return t_issue + lat, True

    def _put_quorum(
        self, t0: float, size: int, deadline: float, only: int | None = None, lead: float = 0.0
    ):
        """Process part: PUT to every bucket (or to bucket ``only``, which then alone makes the
        quorum); returns (quorum time or None, per-bucket rows).

        ``lead`` is the first hop of the commit that follows: the wake-up at the predicted quorum
        is pushed back by it, so the commit request reaches the control plane without an event of
        its own (the PUTs are still verified against the components' histories).
        """
        env = self.env
        bks = self.buckets
        nb = len(bks)
        k = self.scfg.quorum if only is None else 1
        if only is None:
            # fast path: every PUT is predicted to succeed; wait for the k-th and check them
            plans = [self._plan_put(b, t0, 0, size) for b in bks]
            if all(ok for _, ok in plans):
                ends = [e for e, _ in plans]
                q = sorted(ends)[k - 1]
                if q + lead < deadline:
                    yield env.timeout(q + lead - env.now)
                    if not self.up_throughout(t0, env.now):
                        return None, None
                    if all(self._landed(bks[j], t0, ends[j]) for j in range(nb) if ends[j] <= q):
                        rows: list[float] = []
                        for e in ends:
                            rows += [t0, e, float(PUT_OK if e <= q else PUT_PREDICTED)]
                        return q, rows
                    # a PUT failed in flight: fall back to the general case below
        issue = [t0] * nb
        attempt = [0] * nb
        end = [INF] * nb
        pred_ok = [False] * nb
        planned = [False] * nb
        verified = [False] * nb
        dead = [False] * nb
        for j in range(nb):
            if only is not None and j != only:
                dead[j] = True
                continue
            end[j], pred_ok[j] = self._plan_put(bks[j], t0, 0, size)
            planned[j] = True
        while True:
            n_ver = sum(verified)
            if n_ver >= k:
                break
            live = [j for j in range(nb) if not dead[j]]
            if len(live) < k:
                return None, self._put_rows(issue, end, verified, pred_ok, planned, dead)
            cands = sorted(end[j] for j in range(nb) if verified[j] or (planned[j] and pred_ok[j]))
            if len(cands) >= k:
                wake = cands[k - 1] + lead
            else:
                nxt = [
                    end[j] if planned[j] else issue[j]
                    for j in range(nb)
                    if not verified[j] and not dead[j]
                ]
                wake = min(nxt)
            if wake >= deadline:
                yield env.timeout(max(0.0, deadline - env.now))
                return None, self._put_rows(issue, end, verified, pred_ok, planned, dead)
            yield env.timeout(max(0.0, wake - env.now))
            now = env.now
            if not self.up_throughout(t0, now):
                return None, None
            for j in range(nb):
                if verified[j] or dead[j]:
                    continue
                if not planned[j]:
                    if issue[j] <= now:
                        end[j], pred_ok[j] = self._plan_put(bks[j], issue[j], attempt[j], size)
                        planned[j] = True
                    continue
                if end[j] > now:
                    continue
                b = bks[j]
                if pred_ok[j] and self._landed(b, issue[j], end[j]):
                    verified[j] = True
                    continue
                attempt[j] += 1
                if attempt[j] >= self.scfg.put_attempts:
                    dead[j] = True
                    continue
                issue[j] = end[j]
                planned[j] = False
                if issue[j] <= now:
                    end[j], pred_ok[j] = self._plan_put(b, issue[j], attempt[j], size)
                    planned[j] = True
        q = sorted(end[j] for j in range(nb) if verified[j])[k - 1]
        return q, self._put_rows(issue, end, verified, pred_ok, planned, dead)

    def _landed(self, b: Bucket, t0: float, t1: float) -> bool:
        """Whether a PUT in flight over [t0, t1] found the bucket and the path up throughout."""
        return b.up_throughout(t0, t1) and self.net.path_ok_throughout(
            self.region, b.region, t0, t1
        )

    @staticmethod
    def _put_rows(issue, end, verified, pred_ok, planned, dead) -> list[float]:
        rows: list[float] = []
        for j in range(len(issue)):
            if verified[j]:
                state = PUT_OK
            elif planned[j] and pred_ok[j] and not dead[j]:
                state = PUT_PREDICTED
            elif planned[j] or dead[j]:
                state = PUT_FAILED
            else:
                state = PUT_NOT_SENT
            rows += [issue[j], end[j], float(state)]
        return rows

    def _async_replicas(self, q: float | None, puts: list[float]) -> None:
        """Asynchronous bucket replication: the other buckets get a copy a lag after the PUT
        (checked after the run: the copy exists only if the source bucket still did then)."""
        if q is None:
            return
        for j in range(len(self.buckets)):
            if j == self.home_bucket:
                continue
            lag = self.replication_lag.sample(self.block)
            puts[3 * j : 3 * j + 3] = [q, q + lag, float(PUT_REPLICA)]

    def _next_cp(self, avoid: str | None) -> str:
        """The nearest control plane not under suspicion (least recently suspected if all are)."""
        now = self.env.now
        ok = [r for r in self.cp_order if self.suspect_until.get(r, -INF) <= now and r != avoid]
        if ok:
            return ok[0]
        return min(self.cp_order, key=lambda r: (r == avoid, self.suspect_until.get(r, -INF)))

    def _commit(self, fid: int, n_records: int, deadline: float, arrived: tuple | None = None):
        """Process part: get the file's metadata committed; returns (result or None, tries).

        ``arrived``: (region, send time) of a first request that has already travelled to that
        region's control plane (see ``_put_quorum``'s ``lead``).
        """
        env, cfg, net = self.env, self.cfg, self.net
        target = self.leader_hint or self.cp_order[0]
        tries = 0
        waits = 0
        while env.now < deadline:
            tries += 1
            if arrived is not None:
                target, t_send = arrived
                cp = self.cps[target]
                arrived = None
            else:
                if self.suspect_until.get(target, -INF) > env.now:
                    target = self._next_cp(target)
                cp = self.cps[target]
                t_send = env.now
                if not (cp.is_up and net.path_ok(self.region, target)):
                    yield env.timeout(min(cfg.commit_timeout, max(0.0, deadline - env.now)))
                    self.suspect_until[target] = env.now + cfg.suspect_period
                    target = self._next_cp(target)
                    continue
                yield env.timeout(net.one_way(self.region, target) + cp.service_time())
            if not self.is_up:
                return None, tries
            if not cp.is_up or not net.path_ok(self.region, target):
                yield env.timeout(max(0.0, cfg.commit_timeout - (env.now - t_send)))
                self.suspect_until[target] = env.now + cfg.suspect_period
                target = self._next_cp(target)
                continue
            back = net.one_way(target, self.region)
            ev, res = cp.submit(fid, n_records, back, t_send + cfg.commit_timeout)
            if ev is not None:
                res = yield ev  # the answer arrives 'back' later (or at the timeout if lost)
                if res.outcome == "lost":
                    self.suspect_until[target] = env.now + cfg.suspect_period
                    target = self._next_cp(target)
                    continue
            else:
                yield env.timeout(back)
            if not self.is_up:
                return (res if res.outcome == "ok" else None), tries
            if res.outcome == "ok":
                self.leader_hint = target
                return res, tries
            if res.outcome in ("not_leader", "fenced"):
                hint = res.hint
                if (
                    hint is not None
                    and hint != target
                    and self.suspect_until.get(hint, -INF) <= env.now
                ):
                    target = hint
                    continue
                if hint is None or hint == target:
                    waits += 1
                    yield env.timeout(
                        min(cfg.commit_backoff * 2 ** min(waits - 1, 4), cfg.commit_backoff_max)
                    )
                    if hint is None:
                        target = self._next_cp(None) if waits % 2 == 0 else target
                    continue
                # the hint points at a suspect region: wait for a new leader
                waits += 1
                yield env.timeout(
                    min(cfg.commit_backoff * 2 ** min(waits - 1, 4), cfg.commit_backoff_max)
                )
                target = self._next_cp(hint)
                continue
            # unavailable / conflict / overloaded: back off and retry
            waits += 1
            yield env.timeout(
                min(cfg.commit_backoff * 2 ** min(waits - 1, 4), cfg.commit_backoff_max)
            )
        return None, tries

    def _write_file(self, fid: int, ids: np.ndarray, arrive: np.ndarray, size: int):
        """Process: one file from flush to acknowledgement (or failure)."""
        env, led = self.env, self.ledger
        files = led.files
        req = led.requests
        t0 = env.now
        n_records = size // self.router.cfg.record_size
        led.add_attempts(ids, arrive, fid)
        deadline = float(arrive.min()) + self.cfg_request_timeout
        files.add(fid, self.idx, self.region_index[self.region], len(ids), n_records, size, t0)
        # the commit's first hop, to the control plane believed to lead (chosen at flush)
        target = self.leader_hint or self.cp_order[0]
        cp = self.cps[target]
        hop = 0.0
        if (
            cp.is_up
            and self.net.path_ok(self.region, target)
            and self.suspect_until.get(target, -INF) <= t0
        ):
            hop = self.net.one_way(self.region, target) + cp.service_time()
        only = self.home_bucket if self.scfg.replication == "async" else None
        q, puts = yield from self._put_quorum(t0, size, deadline, only, hop)
        if puts is None:  # the agent died
            files.fail(fid, F_LOST_AGENT, "agent died during PUT")
            self._abandon(ids, arrive)
            return
        if self.scfg.replication == "async":
            self._async_replicas(q, puts)
        files.puts[fid] = puts
        if q is None:
            files.fail(fid, F_FAILED, "no PUT quorum")
            self.router.retry(ids, np.full(len(ids), env.now + 0.001))
            return
        files.set(fid, "quorum_s", q)
        files.set(fid, "commit_start_s", env.now)
        arrived = (target, q) if hop > 0 and env.now >= q + hop - 1e-9 else None
        res, tries = yield from self._commit(fid, n_records, deadline, arrived)
        files.set(fid, "commit_tries", tries)
        if res is not None and res.applied:
            files.set(fid, "batch_id", res.batch_id)
            files.set(fid, "commit_region", self.region_index.get(res.hint, -1))
            files.set(fid, "epoch", res.epoch)
            files.set(fid, "committed_s", env.now)
        if not self.is_up or not self.up_throughout(t0, env.now):
            files.fail(fid, F_LOST_AGENT, "agent died during commit")
            self._abandon(ids, arrive)
            return
        now = env.now
        if res is None or res.outcome != "ok" or now > deadline:
            reason = "commit timed out" if res is None else f"commit {res.outcome}"
            if res is not None and res.outcome == "ok":
                reason = "committed after the producers' request timeout"
            files.fail(fid, F_FAILED, reason)
            self.router.retry(ids, np.full(len(ids), max(now, deadline)))
            return
        t_ack = now + 0.5 * self.net.zone_rtt(self.zone, self.zone)
        files.set(fid, "status", F_ACKED)
        files.set(fid, "ack_s", t_ack)
        if self.router.producers_failed:
            ids = ids[req["status"][ids] == PENDING]
            prods = req["producer"][ids]
            alive = np.array([self.router.producers[p].is_up for p in prods], dtype=bool)
            gone = ids[~alive]
            req["status"][gone] = PRODUCER_DIED
            req["end_s"][gone] = t_ack
            ids = ids[alive]
        # the acknowledgement time and leader of a request are its file's (filled in at the end)
        req["status"][ids] = ACKED
        req["ack_file"][ids] = fid

    def _abandon(self, ids: np.ndarray, arrive: np.ndarray) -> None:
        """The agent died with these requests: producers time out, then retry elsewhere."""
        t_err = np.maximum(arrive + self.cfg_request_timeout, self.env.now)
        self.router.retry(ids, t_err)
