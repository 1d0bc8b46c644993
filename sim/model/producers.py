"""Kafka producers: they linger, cap their requests in flight, block on a full buffer, time
out and retry; and the routing of their retries.

A producer groups records for ``linger`` into a batch (Kafka's ``linger.ms``): a batch is ready
``linger`` after the first record of an empty one, so the gap between batches is an exponential
wait for the first record plus the linger, and a batch carries ``1 + Poisson(rate * linger)``
records. Batches are drawn lazily in vectorised chunks from the producer's own random stream, so
faults and other components never change the arrivals.

What happens to a ready batch follows Kafka's producer, resolved only when the agent collects
(:meth:`Producer.take_until`), a few numpy steps per collection and none per record:

1. **Buffer** (``buffer.memory``, ``max.block.ms``): a batch needs its bytes in the producer's
   buffer, which holds every batch until it is acknowledged or finally fails (retries keep it).
   A batch that finds the buffer full waits for space, first come first served (``send()``
   blocks), and fails its records if none frees within ``max_block``.
2. **In-flight cap** (``max.in.flight.requests.per.connection``): a producer has one connection
   to the agent it sends to (Kafka keeps one connection per broker, and an agent is the leader
   of every partition for the producers of its zone); at most ``max_in_flight`` produce requests
   are sent on it before an answer (an acknowledgement or an error) comes back. A batch ready
   with a free slot goes out at once, in its own request; batches ready while the cap is reached
   wait and go out together in one request (up to ``max_request_size``) when the first answer
   frees a slot, as Kafka's sender drains every ready batch for a node into one request.

A request that fails, or has no answer after ``request_timeout`` (Kafka default 30 s), is retried
with exponential backoff (``retry.backoff.ms`` 100 ms up to ``retry.backoff.max.ms`` 1 s, Kafka
3.7, KIP-580) until ``delivery_timeout`` (Kafka default 120 s) from its first send runs out.
Retries go straight to the agent the router picks after their backoff and do not take a slot
(a simplification: Kafka re-queues them in front of the accumulator).
"""

from __future__ import annotations

import bisect

import numpy as np

from sim.ledger import (
    FAILED_BLOCKED,
    FAILED_TIMEOUT,
    NEVER_SENT,
    PENDING,
    PRODUCER_DIED,
    RequestColumns,
)
from sim.model.component import Component

CHUNK_S = 2.0  # seconds of requests generated (and registered) at a time
_NO_IDS = np.empty(0, dtype=np.int64)
_NO_TIMES = np.empty(0)
_INF = float("inf")


class Producer(Component):
    """A Kafka producer in one zone, sending to the agent of its zone."""

    part = "producer"

    def __init__(
        self,
        idx: int,
        region: str,
        zone: str,
        cfg,
        gen: np.random.Generator,
        requests: RequestColumns,
    ):
        super().__init__(f"producer:{zone}:{idx}", region, zone)
        self.idx = idx
        self.cfg = cfg
        self.gen = gen
        self.requests = requests
        self.rate = cfg.records_per_s
        self.rate_multiplier = 1.0
        self._rate_factors: list[float] = []
        # the accumulator's batches, in ready order: their times (Python floats: the
        # collections read a few at a time, cheaper than numpy's calls on tiny arrays), bytes
        # (Python ints, as in the requests' column) and ids (numpy, handed to the agents)
        self._tl: list[float] = []
        self._bl: list[int] = []
        self._bl_max = 0  # the largest batch drawn (bytes): no waiting request can be larger
        self._ids = np.empty(0, dtype=np.int64)
        self._gen_until = 0.0
        self._last_send = gen.exponential(cfg.linger)  # random phase
        self.region_idx = -1  # set by the runner: index of the producer's current region
        self.home_agent = None
        self.agent = None
        self.switch_at = np.inf
        # the accumulator: batches drawn and not yet sent, in ready order; the first
        # ``_entered`` of them have their bytes in the buffer (``_tl`` then holds the time they
        # got it), the rest have not tried yet
        self._entered = 0
        self._block_until = (
            0.0  # a waiting send() holds up the later ones (first come first served)
        )
        self._held_parts: list[np.ndarray] = []  # batches holding buffer bytes, as last seen
        self._held_bytes = 0  # their bytes (an upper bound of what the buffer holds)
        self._open: list[int] = []  # wire requests sent on the connection, not known answered
        self._cursor = 0.0  # the last send on the connection
        self._seen = 0.0  # the last collection

    def add_rate_factor(self, t: float, f: float) -> None:
        """From time ``t`` on, send ``f`` times more (nested with other factors)."""
        self._rate_factors.append(f)
        self._apply_rate_factors(t)

    def remove_rate_factor(self, t: float, f: float) -> None:
        """From time ``t`` on, lift a rate factor put in force earlier."""
        self._rate_factors.remove(f)
        self._apply_rate_factors(t)

    def _apply_rate_factors(self, t: float) -> None:
        m = 1.0
        for f in self._rate_factors:
            m *= f
        self.set_rate_multiplier(t, m)

    def set_rate_multiplier(self, t: float, mult: float) -> None:
        """From time ``t`` on, send ``mult`` times the configured record rate."""
        if self._gen_until < t:
            self._generate(t)  # sends before t keep the old rate
        late = ~(np.array(self._tl, dtype=np.float64) <= t)
        if late.any():
            self.requests["status"][self._ids[late]] = NEVER_SENT
            self._drop(np.flatnonzero(late).tolist())
        self._gen_until = t
        # arrivals are memoryless: with no send drawn past t, the next one is drawn from t (not
        # from the last send before it, which would put sends back in the past)
        self._last_send = self._tl[-1] if self._tl else t
        self.rate_multiplier = mult

    def _drop(self, pos: list[int]) -> None:
        """Remove the accumulator's batches at positions ``pos`` (ascending, at least one): only
        the span they cover is rebuilt, not the whole backlog (an overloaded producer's is long,
        and its failed batches are dropped at every collection)."""
        lo, hi = pos[0], pos[-1] + 1
        gone = set(pos)
        span = [x for x in range(lo, hi) if x not in gone]
        tl, bl = self._tl, self._bl
        tl[lo:hi] = [tl[x] for x in span]
        bl[lo:hi] = [bl[x] for x in span]
        ids = self._ids
        self._ids = np.concatenate([ids[:lo], ids[np.array(span, dtype=np.int64)], ids[hi:]])

    def _generate(self, until: float) -> None:
        """Draw the sends of the next chunks and register them as requests (ids in send order)."""
        cfg = self.cfg
        rate = self.rate * self.rate_multiplier
        while self._gen_until < until:
            end = self._gen_until + CHUNK_S
            self._gen_until = end
            if rate <= 0:
                continue
            last = self._last_send
            if last > end:
                # the last send (or the random phase, up to a few lingers) is past this chunk:
                # none falls in it, and nothing is drawn
                continue
            parts = []
            while last <= end:
                m = int(CHUNK_S / (cfg.linger + 1.0 / rate) * 1.2) + 8
                # last + cumsum(gaps + linger), computed in place (the same values)
                t = self.gen.exponential(1.0 / rate, m)
                t += cfg.linger
                t.cumsum(out=t)
                t += last
                parts.append(t)
                last = t.item(-1)
            t = np.concatenate(parts) if len(parts) > 1 else parts[0]
            # the times ascend: the sends by ``end`` are a prefix
            tl = t.tolist()
            c = bisect.bisect_right(tl, end)
            if not c:
                continue
            if c < len(tl):
                del tl[c:]
                t = t[:c]
            n = self.gen.poisson(rate * cfg.linger, c)
            n += 1
            self._last_send = tl[-1]
            ids, nbytes = self.requests.add(self.idx, t, n, cfg.record_size, self.region_idx)
            self._tl += tl
            bl = nbytes.tolist()
            self._bl += bl
            big = max(bl)
            if big > self._bl_max:
                self._bl_max = big
            self._ids = np.concatenate([self._ids, ids])

    def take_until(self, t: float, delay: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """The batches sent up to ``t`` not taken yet (none while this producer is down): ids and
        send times plus ``delay`` (the agent's one-way delay: their arrival times). A batch is sent
        once it has buffer space and a free in-flight slot."""
        if self._gen_until < t:
            self._generate(t)
        if len(self._hist_up) == 1:  # never down (``history.changed``)
            self._enter_buffer(t)
            return self._dispatch(t, delay)
        self._skip_down(t)
        self._enter_buffer(t)
        ids, times = self._dispatch(t, 0.0)
        if len(ids):
            up = self.up_mask(times)
            if not up.all():
                self.requests["status"][ids[~up]] = NEVER_SENT
                self.requests.answered(ids[~up], times[~up])  # the slot was never taken
                times, ids = times[up], ids[up]
            if delay:
                times = times + delay
        return ids, times

    def _skip_down(self, t: float) -> None:
        """Batches that became ready while the producer was down were never sent; a producer that
        was down since the last collection comes back as a new process, its buffer and
        connection empty (what the old one held is failed or retried by the agents' answers)."""
        if not self.up_throughout(self._seen, t):
            self._held_parts = []
            self._held_bytes = 0
            self._open = []
            self._block_until = 0.0
        self._seen = t
        e = self._entered
        k = bisect.bisect_right(self._tl, t, e)
        if k == e:
            return
        up = self.up_mask(np.array(self._tl[e:k], dtype=np.float64))
        if up.all():
            return
        self.requests["status"][self._ids[e:k][~up]] = NEVER_SENT
        self._drop((e + np.flatnonzero(~up)).tolist())

    def reconnect(self) -> None:
        """The producer now sends to another agent: a new connection, with no request in flight."""
        self._open = []

    # -- the buffer ----------------------------------------------------------------------------
    def _release_time(self, ids: np.ndarray) -> np.ndarray:
        """When each batch gave its buffer bytes back (acknowledged or finally failed), as far as
        the producer knows now; infinite while it is still held."""
        req = self.requests
        st = req["status"][ids]
        done = (st != PENDING) & (st != NEVER_SENT)
        return np.where(done, req["end_s"][ids], np.inf)

    def _enter_buffer(self, t: float) -> None:
        """Batches ready by ``t`` take their bytes in the buffer, wait for space, or fail."""
        e = self._entered
        tl = self._tl
        if e >= len(tl) or tl[e] > t:
            return  # none became ready
        k = bisect.bisect_right(tl, t, e)
        first = tl[e]
        if self._block_until > first:
            # a batch entered (or failed) after the first waiting one was ready: no fast path.
            # ``_enter_slowly`` forgets the batches freed by a time at least ``first`` (so the
            # filter below would change nothing), and the waiting bytes need no sum
            self._enter_slowly(k, t)
            return
        new_bytes = sum(self._bl[e:k])
        cap = self.cfg.buffer_memory
        if self._held_bytes + new_bytes > cap and self._held_parts:
            # forget what was freed before the first new batch was ready
            held = self._held_array()
            held = held[self._release_time(held) > first]
            self._held_parts = [held]
            self._held_bytes = int(self.requests["bytes"][held].sum())
        if self._held_bytes + new_bytes <= cap and self._block_until <= first:
            # fast path: even if nothing held were freed, everything fits
            self._held_parts.append(self._ids[e:k])
            self._held_bytes += new_bytes
            self._entered = k
            return
        self._enter_slowly(k, t)

    def _held_array(self) -> np.ndarray:
        """The batches holding buffer bytes (as last seen), as one array."""
        parts = self._held_parts
        if not parts:
            return _NO_IDS
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _enter_slowly(self, k: int, t: float) -> None:
        """The buffer may be full: each batch in turn, first come first served.

        The held batches are kept sorted by release time (stable: ties in holding order, the
        batches entering now last, as they are never released within the call), so a batch's
        wait reads the earliest releases off the front in Python: the same level and the same
        wait as filtering the held batches by ``release > r`` and taking the stable argsort and
        cumulative bytes of the rest for each batch (``r`` can step back only after a failed batch, and the filter keeps its effect)."""
        req = self.requests
        nbytes = req["bytes"]
        cap = self.cfg.buffer_memory
        max_block = self.cfg.max_block
        held = self._held_array()
        rel0 = self._release_time(held)
        total = float(np.add.reduce(rel0))  # NaN if and only if a value is (none is -inf)
        if total != total:
            rl = rel0.tolist()
            sb = nbytes[held].tolist()
            order = sorted(range(len(rl)), key=rl.__getitem__)  # stable
            # a release time that is NaN is never ``> r``: dropped at the first batch, as by
            # the mask
            s_rel = [rl[x] for x in order if rl[x] == rl[x]]
            s_b = [sb[x] for x in order if rl[x] == rl[x]]
        else:  # (numpy's stable sort orders as Python's does when no value is NaN)
            order = rel0.argsort(kind="stable")
            s_rel = rel0[order].tolist()
            s_b = nbytes[held[order]].tolist()
        n_s = len(s_rel)
        level = sum(s_b)
        p0 = 0  # the first live entry of s_rel
        r_max = None  # the latest r: the held batches are filtered by it
        entered_at: list[int] = []  # positions of the batches that entered, and their waits
        waited: list[float] = []
        tl, bl = self._tl, self._bl
        i = self._entered
        failed = []
        while i < k:
            ready = tl[i]
            r = max(ready, self._block_until)
            if r_max is None or r > r_max:
                r_max = r
            while p0 < n_s and s_rel[p0] <= r:  # released by r
                level -= s_b[p0]
                p0 += 1
            b = bl[i]
            if level + b <= cap:
                u = r
            else:  # wait for the earliest releases that make room
                need = level + b - cap
                freed = 0
                j = p0
                while j < n_s:
                    freed += s_b[j]
                    if freed >= need:
                        break
                    j += 1
                u = s_rel[j] if j < n_s else _INF
            if u <= t and u - ready <= max_block:
                entered_at.append(i)
                waited.append(u - ready)
                tl[i] = u
                self._block_until = u if u > ready else self._block_until
                s_rel.append(_INF)
                s_b.append(b)
                n_s += 1
                level += b
                i += 1
            elif ready + max_block <= t:  # no room within max.block: send() fails the records
                idx = self._ids[i]
                req["status"][idx] = FAILED_BLOCKED
                req["blocked_s"][idx] = max_block
                req["end_s"][idx] = ready + max_block
                req["dispatch_s"][idx] = np.nan
                self._block_until = ready + max_block
                failed.append(i)
                i += 1
            else:
                break  # still waiting at t: decided at a later collection
        if r_max is not None:  # the held batches not released by r_max, in holding order
            held = held[rel0 > r_max]
        if entered_at:
            entered = self._ids[np.array(entered_at, dtype=np.int64)]
            req["blocked_s"][entered] = waited
            held = np.concatenate([held, entered])
        self._held_parts = [held]
        self._held_bytes = int(np.add.reduce(nbytes[held]))
        if failed:
            self._drop(failed)
            i -= len(failed)
        self._entered = i

    # -- the connection ------------------------------------------------------------------------
    def _dispatch(self, t: float, delay: float) -> tuple[np.ndarray, np.ndarray]:
        """Send the batches in the buffer that the in-flight cap lets out by ``t`` (always a
        prefix of the queue; a short Python loop over its few batches, cheaper than numpy here:
        the open wire requests' answer times are read once, as Python floats); return their ids
        and send times plus ``delay``."""
        k = self._entered
        if k == 0:
            return _NO_IDS, _NO_TIMES
        req = self.requests
        cfg = self.cfg
        cap = cfg.max_in_flight
        # the open wire requests: those answered (at a known time) sorted by that time, the
        # first ``ai`` of them heard by the current send, and those not answered yet (``waiting``,
        # never freed within this call)
        open_w = self._open
        if open_w:
            item = req.wire_answer_s.item
            ans_a = [item(w) for w in open_w]
            a0 = ans_a[0]
            if ans_a.count(a0) == len(ans_a):
                # one answer time for all (the common case: the acknowledgement of the file that
                # carried them): the same lists as sorting them, as all are heard at once
                if a0 > t and len(ans_a) >= cap:
                    return _NO_IDS, _NO_TIMES  # the cap is reached and no answer comes by t
                if a0 == _INF:
                    ans_a, ans_w, waiting = [], [], open_w
                else:
                    ans_w, waiting = open_w, []
            else:
                pairs = sorted(zip(ans_a, open_w, strict=True))
                if len(pairs) >= cap and pairs[0][0] > t:
                    return _NO_IDS, _NO_TIMES
                ans_a, ans_w, waiting = [], [], []
                for a, w in pairs:
                    if a == _INF:
                        waiting.append(w)
                    else:
                        ans_a.append(a)
                        ans_w.append(w)
        else:
            ans_a, ans_w, waiting = [], [], []
        if req.n_wire + k > req.wire_room:
            req.reserve_wires(k)
        first_wire = next_wire = req.n_wire
        tl = self._tl
        cur = self._cursor
        out_t: list[float] = []
        out_w: list[int] = []
        pos = 0
        ai = 0
        na = len(ans_a)
        busy = na + len(waiting)  # slots taken: answers not heard yet, and no answer yet
        # a request of ``n`` waiting batches is within max_request_size if ``n * big`` is
        bound = cfg.max_request_size // self._bl_max if self._bl_max else k
        bisect_right = bisect.bisect_right
        while pos < k:
            te = tl[pos]
            if te < cur:
                te = cur
            while ai < na and ans_a[ai] <= te:  # answers heard by te free their slots
                ai += 1
                busy -= 1
            if busy >= cap:  # wait for the first answer
                if ai == na:
                    break  # none comes
                nxt = ans_a[ai]
                if nxt > t:
                    break
                cur = nxt
                continue
            j = bisect_right(tl, te, pos, k)
            if j == pos + 1:
                # nothing else waiting: the next free slots' batches go out one each when
                # ready (the first at te: at the cursor if it was ready before it)
                j = pos + cap - busy
                if j > k:
                    j = k
                out_t.append(te)
                if j > pos + 1:
                    out_t += tl[pos + 1 : j]
                    cur = tl[j - 1]
                else:
                    cur = te
                out_w += range(next_wire, next_wire + j - pos)
                busy += j - pos
                next_wire += j - pos
            else:
                # batches waited for the slot: all ready ones go in one request, up to the size
                if j - pos > bound:
                    j = self._request_end(pos, j)
                out_t += [te] * (j - pos)
                out_w += [next_wire] * (j - pos)
                busy += 1
                next_wire += 1
                cur = te
            pos = j
        if ai == na and not waiting:
            self._open = list(range(first_wire, next_wire))
        else:
            self._open = ans_w[ai:] + waiting + list(range(first_wire, next_wire))
        self._cursor = cur
        if pos == 0:
            return _NO_IDS, _NO_TIMES
        req.n_wire = next_wire
        all_ids = self._ids
        ids = all_ids[:pos]
        self._ids = all_ids[pos:]
        del tl[:pos], self._bl[:pos]
        self._entered = k - pos
        lo = ids.item(0)
        cols = req.cols
        if ids.item(pos - 1) - lo == pos - 1:  # consecutive ids (ascending): slices
            hi = lo + pos
            cols["wire"][lo:hi] = out_w
            dsp = cols["dispatch_s"]
            dsp[lo:hi] = out_t
            return ids, dsp[lo:hi] + delay  # a new array (x + 0.0 is x: no time is -0.0)
        times = np.array(out_t, dtype=np.float64)  # the dtype given: no type discovery
        cols["wire"][ids] = out_w
        cols["dispatch_s"][ids] = times
        return ids, times + delay if delay else times

    def _request_end(self, pos: int, j: int) -> int:
        """Where a request of the waiting batches ``pos`` to ``j`` ends: the most whose bytes add
        up to at most max_request_size, at least one."""
        max_size = self.cfg.max_request_size
        bl = self._bl
        size = 0
        m = pos
        while m < j:
            size += bl[m]
            if size > max_size:
                break
            m += 1
        return m if m > pos else pos + 1

    def byte_rate(self) -> float:
        """Expected bytes per second this producer sends now."""
        return self.rate * self.rate_multiplier * self.cfg.record_size


def backoff(cfg, attempts: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Kafka's exponential retry backoff with +-20% jitter, for the n-th retry."""
    base = np.minimum(cfg.retry_backoff * 2.0 ** np.maximum(attempts - 1, 0), cfg.retry_backoff_max)
    return base * (0.8 + 0.4 * u)


class RetryRouter:
    """Where producers' retries go: their agent if it is up, else the nearest live one."""

    def __init__(self, env, cfg, agents: list, producers: list[Producer], net, ledger, gen):
        self.env = env
        self.cfg = cfg
        self.agents = agents
        self.producers = producers
        self.net = net
        self.ledger = ledger
        self.gen = gen
        # set once any agent or producer has changed state: until then no producer can have
        # left its agent or died, and the agents skip those checks (a cache; it names no fault)
        self.clients_disturbed = False
        for c in list(agents) + list(producers):
            c.watch(self._disturbed)

    def _disturbed(self, _component) -> None:
        self.clients_disturbed = True

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
        req.answered(ids, t_err)  # an error answer frees the in-flight slot
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
            self.ledger.tally("retries", int(go.sum()))
            req["attempts"][pids[go]] += 1
            target.retry_in.append((t_retry[go], pids[go]))
