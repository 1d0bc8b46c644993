"""The durable write: one file PUT in parallel to every bucket, durable at the k-th success.

``quorum_time`` is the rule, and the only place it is written: a k-of-n write is durable at the
k-th smallest completion among the PUTs that succeed (``inf`` if fewer than k succeed). The
``QuorumWriter`` of an agent applies it to real PUTs:

- Each PUT is *planned* when issued (``plan_put``): its end time and whether it would succeed,
  from the bucket's state, the path's state, the RTT, the bucket's service time and the S3 retry
  timeout (2 s, then 4 s: AWS S3 performance guidelines). A 500/503 answers at once; an
  unreachable bucket costs the whole timeout.
- The writer sleeps until the planned quorum, then *verifies* the PUTs it counted against the
  components' histories (``landed``): a bucket or path that failed while a PUT was in flight
  makes it fail, and the writer re-plans (retries up to ``put_attempts``) and sleeps again.
- PUTs still running at the quorum go on in the background and are recorded with their planned
  end (``PUT_PREDICTED``), checked after the run against the histories.

Every PUT request (retries, late PUTs and asynchronous replica copies included) is counted in
the ledger with its bytes, per agent and bucket.
"""

from __future__ import annotations

import math

from sim.core.latency import LogNormal
from sim.ledger import PUT_FAILED, PUT_NOT_SENT, PUT_OK, PUT_PREDICTED, PUT_REPLICA
from sim.model.component import INF
from sim.model.storage import S3_RETRY_TIMEOUTS_S

Z9999 = 3.7190164854556804
_OK, _PREDICTED = float(PUT_OK), float(PUT_PREDICTED)  # standard normal quantile at 0.9999


def quorum_time(done_times, ok, k: int) -> float:
    """When a k-of-n write is durable: the k-th smallest completion among successful PUTs
    (``ok`` None: every PUT succeeded).

    Returns ``inf`` when fewer than ``k`` PUTs succeed.
    """
    if ok is None:
        good = sorted(done_times)
    else:
        good = sorted(t for t, o in zip(done_times, ok, strict=True) if o)
    return good[k - 1] if len(good) >= k else INF


class QuorumWriter:
    """An agent's quorum PUTs to the run's buckets."""

    mutant: str | None = None  # a deliberately broken writer, for the checkers' tests

    def __init__(self, owner, env, net, buckets, storage_cfg, block, ledger):
        self.owner = owner  # the agent: a PUT is abandoned if it dies meanwhile
        self.env = env
        self.net = net
        self.buckets = buckets
        self.scfg = storage_cfg
        self.block = block
        self.region = owner.region
        self.put_counts, self.put_bytes = ledger.put_tally()
        regions_b = [b.region for b in buckets]
        same_zone = [
            j for j, b in enumerate(buckets) if b.zone is not None and b.zone == owner.zone
        ]
        self.home_bucket = (
            same_zone[0] if same_zone else regions_b.index(net.nearest(owner.region, regions_b)[0])
        )
        # a zonal bucket in the agent's own region is reached over the zone network (same zone
        # 0.3 ms, across zones 1.0 ms) instead of the regional endpoint's RTT: the difference
        self.rtt_offset = [
            net.zone_rtt(owner.zone, b.zone) - net.base_s[(owner.region, b.region)]
            if b.zone is not None and b.region == owner.region
            else 0.0
            for b in buckets
        ]
        self._consts: list[tuple] | None = None  # see _put_constants
        # True once a bucket has ever gone down (a cache for ``_quiet``, kept by watching them)
        self._bucket_went_down = any(b.went_down for b in buckets)
        for b in buckets:
            b.watch(self._bucket_changed)
        self.replication_lag = LogNormal(
            storage_cfg.replication_lag_p50,
            math.log(storage_cfg.replication_lag_p9999 / storage_cfg.replication_lag_p50) / Z9999,
        )

    def plan_put(self, j: int, t_issue: float, attempt: int, size: int) -> tuple[float, bool]:
        """When the PUT attempt to bucket ``j`` issued at ``t_issue`` ends, and whether it would
        succeed (counted in the ledger as one PUT request of ``size`` bytes)."""
        self.put_counts[j] += 1
        self.put_bytes[j] += size
        b = self.buckets[j]
        timeout = S3_RETRY_TIMEOUTS_S[min(attempt, len(S3_RETRY_TIMEOUTS_S) - 1)]
        src, dst = self.region, b.region
        net = self.net
        if b.went_down or not net.pristine:
            reach = b.up_at(t_issue)
            if reach and src != dst:
                links = net.links
                reach = links[(src, dst)].up_at(t_issue) and links[(dst, src)].up_at(t_issue)
            if not reach:
                return t_issue + timeout, False
            rtt = net.rtt(src, dst) + self.rtt_offset[j]
        else:  # fast path: nothing on this path has ever failed or been degraded
            rtt = (
                net.base_s[(src, dst)]
                + self.rtt_offset[j]
                - net.jitter_s * math.log1p(-net.block.uniform())
            )
            if b.nominal:
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

    def _plan_all(self, t0: float, size: int) -> list[tuple[float, bool]]:
        """``plan_put`` to every bucket at ``t0`` (first attempts), in bucket order (the same
        draws in the same order); a bucket and path that never failed nor degraded is planned
        in line here."""
        net = self.net
        if not net.pristine:
            return [self.plan_put(j, t0, 0, size) for j in range(len(self.buckets))]
        counts, nbytes = self.put_counts, self.put_bytes
        timeout = S3_RETRY_TIMEOUTS_S[0]
        jitter, uniform = net.jitter_s, net.block.uniform
        consts = self._consts
        if consts is None:
            consts = self._consts = self._put_constants()
        out = []
        log1p, exp = math.log1p, math.exp
        for j, (b, rtt0, median, sigma, bps, normal) in enumerate(consts):
            if b.went_down or not b.nominal:
                out.append(self.plan_put(j, t0, 0, size))
                continue
            counts[j] += 1
            nbytes[j] += size
            lat = rtt0 - jitter * log1p(-uniform()) + median * exp(sigma * normal()) + size / bps
            out.append((t0 + timeout, False) if lat > timeout else (t0 + lat, True))
        return out

    def _put_constants(self) -> list[tuple]:
        """Per bucket, what a nominal PUT's latency is made of: the bucket, the base RTT to it
        (with the zonal offset), its PUT lognormal's median and sigma, its throughput, and its
        block's normal draw."""
        base, src = self.net.base_s, self.region
        return [
            (
                b,
                base[(src, b.region)] + self.rtt_offset[j],
                b.profile.put.median_s,
                b.profile.put.sigma,
                b.profile.throughput_bps,
                b.block.normal,
            )
            for j, b in enumerate(self.buckets)
        ]

    def _quiet(self) -> bool:
        """Whether no bucket and no network link has ever failed or been degraded (every PUT
        then landed as planned)."""
        return self.net.pristine and not self._bucket_went_down

    def _bucket_changed(self, b) -> None:
        if b.went_down:
            self._bucket_went_down = True

    def landed(self, j: int, t0: float, t1: float) -> bool:
        """Whether a PUT to bucket ``j`` in flight over [t0, t1] found the bucket and the path
        up throughout."""
        b = self.buckets[j]
        return b.up_throughout(t0, t1) and self.net.path_ok_throughout(
            self.region, b.region, t0, t1
        )

    def write(
        self, t0: float, size: int, deadline: float, only: int | None = None, lead: float = 0.0,
        plans: list | None = None, woken: bool = False,
    ):  # fmt: skip
        """Process part: PUT to every bucket (or to bucket ``only``, which then alone makes the
        quorum); returns (quorum time or None, per-bucket rows), or (None, None) if the agent
        died meanwhile.

        ``lead`` is the first hop of the commit that follows: the wake-up at the predicted quorum
        is pushed back by it, so the commit request reaches the control plane without an event of
        its own (the PUTs are still verified against the components' histories).

        ``plans``: the first attempts, already planned by ``_plan_all`` at ``t0``; ``woken``: the
        wake-up at the predicted quorum has happened already (a file in flight handing over to
        this general path: ``sim.model.agent``).
        """
        env = self.env
        nb = len(self.buckets)
        k = self.scfg.quorum if only is None else 1
        if self.mutant == "ack-after-one-put":
            k = 1
        bogus = [False] * nb
        owner = self.owner
        if only is None:
            # fast path: every PUT is planned to succeed; wait for the k-th and verify
            if plans is None:
                plans = self._plan_all(t0, size)
            ends = [e for e, ok in plans if ok]
            if len(ends) == nb:
                q = sorted(ends)[k - 1] if k <= nb else INF  # quorum_time, every PUT ok
                if q + lead < deadline:
                    if not woken:
                        yield env.timeout(q + lead - env.now)
                    if not owner.up_throughout(t0, env.now):
                        return None, None
                    if self._quiet() or all(
                        self.landed(j, t0, ends[j]) for j in range(nb) if ends[j] <= q
                    ):
                        return q, put_rows_ok(t0, ends, q)
                    # a PUT failed in flight: the general case below verifies each PUT
            # the general case goes on with the PUTs already issued (never draws them again)
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
            end[j], pred_ok[j] = plans[j] if plans is not None else self.plan_put(j, t0, 0, size)
            planned[j] = True
        while True:
            if sum(verified) >= k:
                break
            live = [j for j in range(nb) if not dead[j]]
            if len(live) < k:
                return None, _put_rows(issue, end, verified, pred_ok, planned, dead)
            counted = [verified[j] or (planned[j] and pred_ok[j]) for j in range(nb)]
            q_planned = quorum_time(end, counted, k)
            if q_planned < INF:
                wake = q_planned + lead
            else:
                nxt = [
                    end[j] if planned[j] else issue[j]
                    for j in range(nb)
                    if not verified[j] and not dead[j]
                ]
                wake = min(nxt)
            if wake >= deadline:
                yield env.timeout(max(0.0, deadline - env.now))
                return None, _put_rows(issue, end, verified, pred_ok, planned, dead)
            yield env.timeout(max(0.0, wake - env.now))
            now = env.now
            if not owner.up_throughout(t0, now):
                return None, None
            for j in range(nb):
                if verified[j] or dead[j]:
                    continue
                if not planned[j]:
                    if issue[j] <= now:
                        end[j], pred_ok[j] = self.plan_put(j, issue[j], attempt[j], size)
                        planned[j] = True
                    continue
                if end[j] > now:
                    continue
                if pred_ok[j] and self.landed(j, issue[j], end[j]):
                    verified[j] = True
                    continue
                if self.mutant == "count-failed-put" and not any(bogus):
                    verified[j] = bogus[j] = True  # the failed PUT counted towards the quorum
                    continue
                attempt[j] += 1
                if attempt[j] >= self.scfg.put_attempts:
                    dead[j] = True
                    continue
                issue[j] = end[j]
                planned[j] = False
                if issue[j] <= now:
                    end[j], pred_ok[j] = self.plan_put(j, issue[j], attempt[j], size)
                    planned[j] = True
        q = quorum_time(end, verified, k)
        rows = _put_rows(issue, end, verified, pred_ok, planned, dead)
        for j in range(nb):
            if bogus[j]:
                rows[3 * j + 2] = float(PUT_FAILED)  # the storage recorded it failed
        return q, rows

    def async_replicas(self, q: float | None, puts: list[float], size: int) -> None:
        """Asynchronous bucket replication: the other buckets get a copy a lag after the PUT
        (checked after the run: the copy exists only if the source bucket still did then)."""
        if q is None:
            return
        for j in range(len(self.buckets)):
            if j == self.home_bucket:
                continue
            lag = self.replication_lag.sample(self.block)
            puts[3 * j : 3 * j + 3] = [q, q + lag, float(PUT_REPLICA)]
            self.put_counts[j] += 1
            self.put_bytes[j] += size


def put_rows_ok(t0: float, ends: list[float], q: float) -> list[float]:
    """The per-bucket rows of PUTs all issued at ``t0`` and all successful: landed by the quorum
    ``q``, or still running then (predicted)."""
    rows: list[float] = []
    for e in ends:
        rows += [t0, e, _OK if e <= q else _PREDICTED]
    return rows


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
