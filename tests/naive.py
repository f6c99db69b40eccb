"""Plain NumPy/Python twins of every kernel: slow, obvious, importing nothing from
banditcurr's kernels. Each test compares a kernel with its twin here.
"""

import itertools
import math
from collections import deque

import numpy as np

MASK64 = (1 << 64) - 1


class Xoshiro:
    """xoshiro256** over Python ints, with the same derived draws as banditcurr._rng."""

    def __init__(self, state):
        self.s = [int(x) for x in state]

    def state(self):
        return np.array(self.s, dtype=np.uint64)

    def next_u64(self):
        s = self.s
        rotl = lambda x, k: ((x << k) | (x >> (64 - k))) & MASK64
        result = (rotl((s[1] * 5) & MASK64, 7) * 9) & MASK64
        t = (s[1] << 17) & MASK64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result

    def uniform(self):
        return (self.next_u64() >> 11) * (1.0 / 9007199254740992.0)

    def randint(self, n):
        threshold = ((1 << 64) - n) % n
        r = self.next_u64()
        while r < threshold:
            r = self.next_u64()
        return r % n

    def normal(self):
        u1 = 1.0 - self.uniform()
        u2 = self.uniform()
        return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)

    def gamma(self, shape):
        if shape < 1.0:
            u = 1.0 - self.uniform()
            return self.gamma(shape + 1.0) * u ** (1.0 / shape)
        d = shape - 1.0 / 3.0
        c = 1.0 / math.sqrt(9.0 * d)
        while True:
            x = self.normal()
            v = 1.0 + c * x
            if v <= 0.0:
                continue
            v = v * v * v
            u = 1.0 - self.uniform()
            if math.log(u) < 0.5 * x * x + d - d * v + d * math.log(v):
                return d * v

    def beta(self, a, b):
        x, y = self.gamma(a), self.gamma(b)
        return x / (x + y)

    def sample_distinct(self, n, m):
        """Same algorithm and draws as banditcurr._rng.sample_distinct."""
        if 2 * m > n:
            pool = list(range(n))
            for j in range(m):
                r = j + self.randint(n - j)
                pool[j], pool[r] = pool[r], pool[j]
            return pool[:m]
        chosen, out = set(), []
        while len(out) < m:
            x = self.randint(n)
            if x not in chosen:
                chosen.add(x)
                out.append(x)
        return out


# -- shared sampling ---------------------------------------------------------------

def sample_from_probs(rng, p, batch):
    """With replacement by inverse CDF if batch > K; else Efraimidis-Spirakis top-B."""
    if batch > len(p):
        cumulative = np.cumsum(p)
        return np.array([np.searchsorted(cumulative, rng.uniform() * cumulative[-1], side="right")
                         for _ in range(batch)])
    u = [1.0 - rng.uniform() for _ in p]  # one draw per arm, zero-probability arms included
    keys = np.array([math.log(uk) / pk if pk > 0 else -np.inf for uk, pk in zip(u, p)])
    return np.argsort(-keys, kind="mergesort")[:batch]


def sample_uniform(rng, n_arms, batch):
    if batch > n_arms:
        return np.array([int(rng.uniform() * n_arms) for _ in range(batch)])
    return np.array(rng.sample_distinct(n_arms, batch))


def softmax(x, temperature):
    z = np.exp((x - x.max()) / temperature)
    return z / z.sum()


def groups(rewards, offsets):
    return [np.asarray(rewards[offsets[g]:offsets[g + 1]], dtype=float) for g in range(len(offsets) - 1)]


def abs_advantages(group):
    std = group.std(ddof=1) if len(group) > 1 else 0.0
    return np.abs(group - group.mean()) / (std + 1e-6)


# -- schedulers --------------------------------------------------------------------

class NaiveDumpUCB:
    """DUMP as written in DESIGN.md, with Python lists as FIFO windows."""

    def __init__(self, n_arms, c=1.0, temperature=0.1, window=300, window_unit="responses",
                 count_discount=1.0, count_window=None, uniform_mix=0.0):
        self.k, self.c, self.tau, self.w = n_arms, c, temperature, window
        self.unit, self.gamma, self.eps = window_unit, count_discount, uniform_mix
        self.windows = [[] for _ in range(n_arms)]
        self.counts = np.zeros(n_arms)
        self.count_window = count_window
        self.recent = []  # (arm, size) of the last count_window groups

    def update(self, arms, rewards, offsets):
        self.counts *= self.gamma
        for arm, group in zip(arms, groups(rewards, offsets)):
            adv = abs_advantages(group)
            values = [adv.mean()] if self.unit == "groups" else list(adv)
            self.windows[arm] = (self.windows[arm] + values)[-self.w:]
            self.counts[arm] += len(group)
            if self.count_window:
                self.recent.append((arm, len(group)))
                if len(self.recent) > self.count_window:
                    old_arm, old_size = self.recent.pop(0)
                    self.counts[old_arm] -= old_size

    def probs(self):
        n_total = max(1.0, self.counts.sum())
        mu = np.array([np.mean(w) if w else 0.0 for w in self.windows])
        ucb = mu + self.c * np.sqrt(2 * np.log(n_total + 1) / (self.counts + 1))
        p = softmax(ucb, self.tau)
        return (1 - self.eps) * p + self.eps / self.k

    def sample(self, rng, batch):
        return sample_from_probs(rng, self.probs(), batch)


class NaiveUniform:
    """Uniform: p = 1 / K, feedback ignored."""

    def __init__(self, n_arms):
        self.k = n_arms

    def update(self, arms, rewards, offsets):
        pass

    def probs(self):
        return np.full(self.k, 1.0 / self.k)

    def sample(self, rng, batch):
        return sample_uniform(rng, self.k, batch)


class NaiveCurES:
    """CurES as written in its docstring: Beta(1 + s, 1 + f) per prompt, weights
    exp(sqrt(p (1 - p)) / tau_x), optional candidate pool."""

    def __init__(self, n_arms, threshold=0.5, temperature=100.0, scale_by_successes=True, decay=1.0,
                 pool_ratio=None, uniform_mix=0.0):
        self.k, self.threshold, self.tau, self.scale = n_arms, threshold, temperature, scale_by_successes
        self.decay, self.pool_ratio, self.eps = decay, pool_ratio, uniform_mix
        self.alpha = np.ones(n_arms)
        self.beta = np.ones(n_arms)

    def update(self, arms, rewards, offsets):
        if self.decay < 1.0:  # once per update call for each prompt present, toward the prior
            for arm in set(int(a) for a in arms):
                self.alpha[arm] = self.decay * self.alpha[arm] + (1.0 - self.decay)
                self.beta[arm] = self.decay * self.beta[arm] + (1.0 - self.decay)
        for arm, group in zip(arms, groups(rewards, offsets)):
            wins = int(np.sum(group >= self.threshold))
            self.alpha[arm] += wins
            self.beta[arm] += len(group) - wins

    def log_weights(self, arms):
        p = self.alpha[arms] / (self.alpha[arms] + self.beta[arms])
        tau = self.tau * self.alpha[arms] if self.scale else np.full(len(arms), self.tau)
        return np.sqrt(p * (1.0 - p)) / tau

    def _normalised(self, arms):
        w = np.exp(self.log_weights(arms) - self.log_weights(arms).max())
        w = w / w.sum()
        return (1.0 - self.eps) * w + self.eps / len(arms)

    def probs(self):
        return self._normalised(np.arange(self.k))

    def sample(self, rng, batch):
        pool = (self.pool_ratio or 0) * batch
        if batch <= self.k and 0 < pool < self.k:
            candidates = np.array(rng.sample_distinct(self.k, pool))
            w = self._normalised(candidates)
            keys = np.array([math.log(1.0 - rng.uniform()) / wc for wc in w])
            return candidates[np.argsort(-keys, kind="mergesort")[:batch]]
        return sample_from_probs(rng, self.probs(), batch)


class NaiveTwoLevel:
    """Top twin over distributions, one inner twin per distribution, one rng stream."""

    def __init__(self, groups, top, inners):
        self.groups = np.asarray(groups)
        self.top, self.inners = top, inners
        self.members = [np.flatnonzero(self.groups == d) for d in range(len(inners))]
        self.local = np.empty(len(self.groups), dtype=int)
        for members in self.members:
            self.local[members] = np.arange(len(members))

    def update(self, arms, rewards, offsets):
        arms = np.asarray(arms)
        dists = self.groups[arms]
        self.top.update(dists, rewards, offsets)
        parts = groups(rewards, offsets)
        for d, inner in enumerate(self.inners):
            mine = [g for g in range(len(arms)) if dists[g] == d]
            if mine:
                sizes = [len(parts[g]) for g in mine]
                inner.update(self.local[arms[mine]], np.concatenate([parts[g] for g in mine]),
                             np.concatenate([[0], np.cumsum(sizes)]))

    def probs(self):
        out = np.empty(len(self.groups))
        p_top = self.top.probs()
        for d, inner in enumerate(self.inners):
            out[self.members[d]] = p_top[d] * inner.probs()
        return out

    def sample(self, rng, batch):
        dists = np.asarray(self.top.sample(rng, batch))
        sizes = np.array([len(m) for m in self.members])
        if batch <= len(self.groups) and np.any(np.bincount(dists, minlength=len(sizes)) > sizes):
            # prompt level: a distribution's slots beyond its size are drawn again among
            # the distributions with prompts left, by the top level's probabilities
            left, p = sizes.copy(), self.top.probs()
            for j, d in enumerate(dists):
                if left[d] > 0:
                    left[d] -= 1
                    continue
                weights = np.where(left > 0, p, 0.0)
                if weights.sum() <= 0:
                    weights = (left > 0).astype(float)
                cumulative = np.cumsum(weights)
                d = min(int(np.searchsorted(cumulative, rng.uniform() * cumulative[-1], side="right")),
                        len(sizes) - 1)
                while weights[d] == 0:
                    d -= 1
                dists[j] = d
                left[d] -= 1
        out = np.empty(batch, dtype=np.int64)
        for d, inner in enumerate(self.inners):
            slots = np.flatnonzero(dists == d)
            if len(slots):
                out[slots] = self.members[d][np.asarray(inner.sample(rng, len(slots)))]
        return out


# -- rollout allocation and the DAPO gate -------------------------------------------

def allocate(sigma, budget, min_size=2, max_size=None):
    """Bounded Neyman allocation by bisection on the water level, then largest remainder."""
    sigma = np.asarray(sigma, dtype=float)
    n, high = len(sigma), max_size or budget
    order = sorted(range(n), key=lambda x: (-sigma[x], x))
    active = [x for x in order if sigma[x] > 0]
    count = min(len(active) if active else n, budget // min_size)
    count = max(count, -(-budget // high))
    chosen = order[:count]
    fill = min(sigma[x] for x in active) if active else 1.0
    w = np.array([sigma[x] if sigma[x] > 0 else fill for x in chosen])
    shares = lambda level: np.clip(level * w, min_size, high)
    low, up = 0.0, 1.0
    while shares(up).sum() < budget:
        up *= 2.0
    for _ in range(200):
        mid = 0.5 * (low + up)
        low, up = (mid, up) if shares(mid).sum() < budget else (low, mid)
    share = shares(up)
    sizes = np.clip(np.floor(share), min_size, high).astype(int)
    left = budget - sizes.sum()
    fraction = share - sizes
    ranked = sorted(range(count), key=lambda j: (-fraction[j] if left > 0 else fraction[j], chosen[j]))
    while left != 0:
        for j in ranked:
            if left > 0 and sizes[j] < high:
                sizes[j] += 1
                left -= 1
            elif left < 0 and sizes[j] > min_size:
                sizes[j] -= 1
                left += 1
            if left == 0:
                break
    out = np.zeros(n, dtype=np.int64)
    out[chosen] = sizes
    return out, dict(zip(chosen, share))


def keep_mixed(rewards, offsets):
    """DAPO's filter: True for groups whose rewards are not all equal."""
    return np.array([len(set(group.tolist())) > 1 for group in groups(rewards, offsets)])


def screen_groups(rng, probs, screen, group_size):
    """SPEED-RL screening as the simulator's ``_screen``: ``screen`` Bernoulli draws per
    prompt (uniform < p, all prompts first), then ``group_size - screen`` more for each
    prompt whose screen is mixed. Returns (flat rewards, sizes, successes)."""
    first = [[float(rng.uniform() < p) for _ in range(screen)] for p in probs]
    rewards, sizes, successes = [], [], []
    for p, group in zip(probs, first):
        k = sum(group)
        if 0 < k < screen:
            group = group + [float(rng.uniform() < p) for _ in range(group_size - screen)]
        rewards += group
        sizes.append(len(group))
        successes.append(sum(group))
    return np.array(rewards), np.array(sizes), np.array(successes)


def passes_binary(kind, successes, size, lo, hi):
    """The simulator's gate on a group of 0/1 rewards: p = k/n; mixed, band on p, std band
    on sqrt(p (1 - p))."""
    if kind == "none":
        return True
    if kind == "mixed":
        return 0 < successes < size
    p = successes / size
    statistic = p if kind == "band" else math.sqrt(p * (1.0 - p))
    return lo <= statistic <= hi


def keep_gate(values, offsets, kind, lo=None, hi=None):
    """The post-rollout gates, plainly: "none" all, "mixed" not all equal, "band"
    lo <= mean <= hi, "std" lo <= population std <= hi (sums in order, as the kernel)."""
    keep = []
    for group in groups(values, offsets):
        if kind == "none":
            keep.append(True)
        elif kind == "mixed":
            keep.append(len(set(group.tolist())) > 1)
        else:
            total = 0.0
            for x in group:
                total += x
            mean = total / len(group)
            statistic = mean
            if kind == "std":
                squares = 0.0
                for x in group:
                    squares += (x - mean) ** 2
                statistic = math.sqrt(squares / len(group))
            keep.append(lo <= statistic <= hi)
    return np.array(keep, dtype=bool)


# -- family-a twins: SEC, Exp3.S, TSCL, PLR ------------------------------------------
# Group statistics as plain sequential sums (the kernels' order), so ties between
# groups come out bit for bit the same.

def seq_mean(values):
    total = 0.0
    for x in values:
        total += x
    return total / len(values)


def seq_abs_advantages(group):
    """|A_j| = |r_j - mean| / (unbiased std + 1e-6), summed in order."""
    mean = seq_mean(group)
    std = 0.0
    if len(group) > 1:
        total = 0.0
        for x in group:
            total += (x - mean) ** 2
        std = math.sqrt(total / (len(group) - 1))
    return [abs(x - mean) / (std + 1e-6) for x in group]


class NaiveSEC:
    """SEC as its formula reads: per step, r(c) = mean |A| of c's responses,
    Q(c) <- alpha r(c) + (1 - alpha) Q(c); absent c: r = 0 if decay_absent."""

    def __init__(self, n_arms, alpha=0.5, temperature=1.0, decay_absent=True):
        self.q = np.zeros(n_arms)
        self.alpha, self.tau, self.decay = alpha, temperature, decay_absent

    def update(self, arms, rewards, offsets):
        values = {}
        for arm, group in zip(arms, groups(rewards, offsets)):
            values.setdefault(int(arm), []).extend(seq_abs_advantages(list(group)))
        for k in range(len(self.q)):
            if k in values:
                self.q[k] = self.alpha * seq_mean(values[k]) + (1 - self.alpha) * self.q[k]
            elif self.decay:
                self.q[k] = (1 - self.alpha) * self.q[k]

    def probs(self):
        return softmax(self.q, self.tau)

    def sample(self, rng, batch):
        return sample_from_probs(rng, self.probs(), batch)


def linear_quantile(values, level):
    """NumPy's default quantile, written out: interpolate between order statistics."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * level
    low = int(math.floor(position))
    if low >= len(ordered) - 1:
        return ordered[-1]
    return ordered[low] + (position - low) * (ordered[low + 1] - ordered[low])


class NaiveExp3S:
    """Exp3.S with log-weights exactly as Graves et al. write it; each group one round."""

    def __init__(self, n_arms, eta=1e-3, epsilon=0.05, beta=0.0, alpha=None, signal="abs_advantage",
                 window=1000, low_quantile=0.2, high_quantile=0.8, threshold=0.5):
        self.k = n_arms
        self.w = np.zeros(n_arms)
        self.eta, self.eps, self.beta, self.alpha = eta, epsilon, beta, alpha
        self.signal, self.window, self.lo, self.hi, self.threshold = signal, window, low_quantile, high_quantile, threshold
        self.history = []
        self.last_success = np.zeros(n_arms)
        self.t = 0

    def probs(self):
        return (1 - self.eps) * softmax(self.w, 1.0) + self.eps / self.k

    def sample(self, rng, batch):
        return sample_from_probs(rng, self.probs(), batch)

    def update(self, arms, rewards, offsets):
        for arm, group in zip(arms, groups(rewards, offsets)):
            if self.signal == "success_gain":
                rate = sum(1 for x in group if x >= self.threshold) / len(group)
                raw = rate - self.last_success[arm]
                self.last_success[arm] = rate
            else:
                raw = seq_mean(seq_abs_advantages(list(group)))
            self.history = (self.history + [raw])[-self.window:]
            low, high = linear_quantile(self.history, self.lo), linear_quantile(self.history, self.hi)
            if raw < low:
                r = -1.0
            elif raw > high:
                r = 1.0
            else:
                r = 2 * (raw - low) / (high - low) - 1 if high > low else 0.0
            self.t += 1
            alpha = 1.0 / self.t if self.alpha is None else self.alpha
            pi = self.probs()
            gains = self.eta * ((np.arange(self.k) == arm) * r + self.beta) / pi
            z = self.w + gains
            top = z.max()
            e = np.exp(z - top)
            if self.k > 1:
                self.w = top + np.log((1 - alpha) * e + alpha / (self.k - 1) * (e.sum() - e))
            else:
                self.w = z


def least_squares_slope(xs, ys):
    """Slope of the least-squares line through (xs, ys), the textbook formula summed
    in order (so equal slopes of different data tie exactly, as in the kernel)."""
    mean_x, mean_y = seq_mean([float(x) for x in xs]), seq_mean(ys)
    cov = var = 0.0
    for x, y in zip(xs, ys):
        cov += (x - mean_x) * (y - mean_y)
        var += (x - mean_x) * (x - mean_x)
    return cov / var


class NaiveTSCL:
    """TSCL's three teachers as the paper states them; the sampling teacher's
    probabilities by enumerating every joint draw (small K and window only)."""

    def __init__(self, n_arms, teacher="sampling", policy="epsilon_greedy", epsilon=0.1, temperature=0.0004,
                 lr=0.1, window=10, abs_slope=True, threshold=0.5):
        self.k, self.teacher, self.policy, self.eps, self.tau = n_arms, teacher, policy, epsilon, temperature
        self.lr, self.window, self.abs, self.threshold = lr, window, abs_slope, threshold
        self.last = np.zeros(n_arms)
        self.q = np.full(n_arms, 1.0 if teacher == "window" else 0.0)
        self.history = [[] for _ in range(n_arms)]  # (step, score) or score changes
        self.step = 0

    def update(self, arms, rewards, offsets):
        self.step += 1
        wins, counts = np.zeros(self.k), np.zeros(self.k)
        for arm, group in zip(arms, groups(rewards, offsets)):
            wins[arm] += sum(1 for x in group if x >= self.threshold)
            counts[arm] += len(group)
        for k in np.flatnonzero(counts):
            score = wins[k] / counts[k]
            change, self.last[k] = score - self.last[k], score
            if self.teacher == "online":
                self.q[k] = self.lr * change + (1 - self.lr) * self.q[k]
                continue
            entry = (self.step, score) if self.teacher == "window" else change
            self.history[k] = (self.history[k] + [entry])[-self.window:]
            if self.teacher == "window" and len(self.history[k]) >= 2:
                self.q[k] = least_squares_slope(*zip(*self.history[k]))

    def _key(self, x):
        return abs(x) if self.abs else x

    def probs(self):
        if self.teacher == "sampling":
            empty = [k for k in range(self.k) if not self.history[k]]
            win = np.zeros(self.k)
            if empty:
                win[empty] = 1.0 / len(empty)
            else:
                draws = list(itertools.product(*self.history))
                for draw in draws:
                    keys = [self._key(x) for x in draw]
                    best = [k for k in range(self.k) if keys[k] == max(keys)]
                    win[best] += 1.0 / len(best) / len(draws)
            return (1 - self.eps) * win + self.eps / self.k
        v = np.abs(self.q) if self.abs else self.q
        if self.policy == "boltzmann":
            return softmax(v, self.tau)
        best = v == v.max()
        return (1 - self.eps) * best / best.sum() + self.eps / self.k

    def sample(self, rng, batch):
        return sample_from_probs(rng, self.probs(), batch)


class NaivePLR:
    """Prioritized Level Replay as the paper writes it, with tied ranks sharing weight."""

    def __init__(self, n_arms, score="value_l1", prioritization="rank", temperature=0.1, staleness_coef=0.1,
                 score_ema=1.0, schedule="proportionate", min_seen_fraction=1.0, new_level_prob=0.5):
        self.k, self.score, self.prio, self.beta, self.rho = n_arms, score, prioritization, temperature, staleness_coef
        self.ema, self.schedule, self.min_seen, self.nu = score_ema, schedule, min_seen_fraction, new_level_prob
        self.s = np.zeros(n_arms)
        self.last = np.zeros(n_arms, dtype=np.int64)  # 0 = unseen
        self.c = 0

    def _group_score(self, group):
        mean = seq_mean(group)
        if self.score == "abs_advantage":
            return seq_mean(seq_abs_advantages(group))
        if self.score == "positive_value_loss":
            return seq_mean([max(x - mean, 0.0) for x in group])
        return seq_mean([abs(x - mean) for x in group])

    def update(self, arms, rewards, offsets):
        for arm, group in zip(arms, groups(rewards, offsets)):
            self.s[arm] = (1 - self.ema) * self.s[arm] + self.ema * self._group_score(list(group))
            self.c += 1
            self.last[arm] = self.c

    def probs(self):
        seen = [k for k in range(self.k) if self.last[k] > 0]
        unseen = [k for k in range(self.k) if self.last[k] == 0]
        fraction = len(seen) / self.k
        if not seen or (unseen and fraction < self.min_seen):
            replay = 0.0
        elif not unseen:
            replay = 1.0
        else:
            replay = 1 - self.nu if self.schedule == "fixed" else fraction
        p = np.zeros(self.k)
        if replay > 0:
            h = np.zeros(self.k)
            for i in seen:
                if self.prio == "rank":
                    above = sum(1 for j in seen if self.s[j] > self.s[i])
                    ties = sum(1 for j in seen if self.s[j] == self.s[i])
                    h[i] = np.mean([(1.0 / r) ** (1 / self.beta) for r in range(above + 1, above + ties + 1)])
                else:
                    h[i] = self.s[i] ** (1 / self.beta)
            p_score = h / h.sum() if h.sum() > 0 else np.isin(np.arange(self.k), seen) / len(seen)
            stale = np.array([self.c - self.last[i] if i in seen else 0 for i in range(self.k)], dtype=float)
            p_stale = stale / stale.sum() if stale.sum() > 0 else np.isin(np.arange(self.k), seen) / len(seen)
            p = replay * ((1 - self.rho) * p_score + self.rho * p_stale)
        for i in unseen:
            p[i] = (1 - replay) / len(unseen)
        return p

    def sample(self, rng, batch):
        return sample_from_probs(rng, self.probs(), batch)


# -- Beta posterior twins: Thompson (MoPPS) and learnability (SFL / LILO) ------------

_LOG4 = math.log(4.0)
_ONE_PLUS_LOG5 = 1.0 + math.log(5.0)


def cheng_beta(rng, a, b):
    """Beta(a, b) by Cheng (1978), algorithms BB (min > 1) and BC, as written in the
    paper; the same uniforms and arithmetic as banditcurr._posterior."""
    small, large, total = min(a, b), max(a, b), a + b
    first_small = small == a

    def open_uniform():
        u = rng.uniform()
        while u == 0.0:
            u = rng.uniform()
        return u

    def w_of(v, scale):
        return 1.7976931348623157e308 if v > 709.0 else scale * math.exp(v)

    if small > 1.0:
        scale = math.sqrt((total - 2.0) / (2.0 * small * large - total))
        lift = small + 1.0 / scale
        while True:
            u1, u2 = open_uniform(), 1.0 - rng.uniform()
            v = scale * math.log(u1 / (1.0 - u1))
            w = w_of(v, small)
            z = u1 * u1 * u2
            r = lift * v - _LOG4
            s = small + r - w
            if s + _ONE_PLUS_LOG5 >= 5.0 * z or s > math.log(z):
                break
            if r + total * math.log(total / (large + w)) >= math.log(z):
                break
        return w / (large + w) if first_small else large / (large + w)
    delta = 1.0 + large - small
    k1 = delta * (0.0138889 + 0.0416667 * small) / (large / small - 0.777778)
    k2 = 0.25 + (0.5 + 0.25 / delta) * small
    while True:
        u1, u2 = open_uniform(), 1.0 - rng.uniform()
        if u1 < 0.5:
            y = u1 * u2
            z = u1 * y
            if 0.25 * u2 + z - y >= k1:
                continue
        else:
            z = u1 * u1 * u2
            if z <= 0.25:
                w = w_of((1.0 / small) * math.log(u1 / (1.0 - u1)), large)
                break
            if z >= k2:
                continue
        v = (1.0 / small) * math.log(u1 / (1.0 - u1))
        w = w_of(v, large)
        if total * (math.log(total / (small + w)) + v) - _LOG4 >= math.log(z):
            break
    return small / (small + w) if first_small else w / (small + w)


class BetaPosteriors:
    """Per-arm Beta(alpha, beta) with MoPPS decay once per update call."""

    def __init__(self, n_arms, threshold=0.5, prior_alpha=1.0, prior_beta=1.0, decay=1.0):
        self.threshold, self.prior, self.decay = threshold, (prior_alpha, prior_beta), decay
        self.alpha = np.full(n_arms, float(prior_alpha))
        self.beta = np.full(n_arms, float(prior_beta))

    def update(self, arms, rewards, offsets):
        if self.decay < 1.0:
            for arm in set(int(a) for a in arms):
                self.alpha[arm] = self.decay * self.alpha[arm] + (1.0 - self.decay) * self.prior[0]
                self.beta[arm] = self.decay * self.beta[arm] + (1.0 - self.decay) * self.prior[1]
        for arm, group in zip(arms, groups(rewards, offsets)):
            wins = int(np.sum(group >= self.threshold))
            self.alpha[arm] += wins
            self.beta[arm] += len(group) - wins


def thompson_win_probabilities(alpha, beta, aim):
    """P(arm k's draw is the closest to ``aim``) by adaptive quadrature (scipy), from
    p_k = integral over d of g_k(d) prod_{j != k} P(|theta_j - aim| > d)."""
    from scipy import integrate
    from scipy.special import betainc
    from scipy.stats import beta as beta_law

    alpha, beta = np.asarray(alpha, float), np.asarray(beta, float)
    if len(alpha) == 1:
        return np.ones(1)
    top = max(aim, 1.0 - aim)

    def outside(d):  # P(|theta_j - aim| > d) for all j
        low = betainc(alpha, beta, max(aim - d, 0.0)) if aim - d > 0 else np.zeros(len(alpha))
        high = betainc(beta, alpha, max(1.0 - aim - d, 0.0)) if aim + d < 1 else np.zeros(len(alpha))
        return low + high

    def density(k, d):
        total = 0.0
        for x in (aim + d, aim - d):
            if 0.0 <= x <= 1.0:
                total += beta_law.pdf(x, alpha[k], beta[k])
        return total

    means = alpha / (alpha + beta)
    breaks = sorted({float(abs(m - aim)) for m in means if 0 < abs(m - aim) < top})
    win = np.empty(len(alpha))
    for k in range(len(alpha)):
        def integrand(d, k=k):
            s = outside(d)
            return density(k, d) * np.prod(np.delete(s, k))
        win[k] = integrate.quad(integrand, 0.0, top, points=breaks or None, limit=400, epsabs=1e-11)[0]
    return win / win.sum()


class NaiveThompson(BetaPosteriors):
    """MoPPS Thompson as its docstring reads: draw theta ~ Beta per candidate, keep the
    closest to the target (mode "variance": the largest theta (1 - theta), literally)."""

    def __init__(self, n_arms, threshold=0.5, prior_alpha=1.0, prior_beta=1.0, decay=1.0,
                 target=0.5, mode="target", pool_ratio=None):
        super().__init__(n_arms, threshold, prior_alpha, prior_beta, decay)
        self.k, self.target, self.mode, self.pool_ratio = n_arms, target, mode, pool_ratio

    def preference(self, theta):
        """Smaller is better."""
        theta = np.asarray(theta)
        return -(theta * (1.0 - theta)) if self.mode == "variance" else np.abs(theta - self.target)

    def draws(self, rng, arms):
        return [cheng_beta(rng, self.alpha[a], self.beta[a]) for a in arms]

    def sample(self, rng, batch):
        if batch > self.k:
            return np.array([np.argmin(self.preference(self.draws(rng, range(self.k)))) for _ in range(batch)])
        pool = (self.pool_ratio or 0) * batch
        candidates = np.array(rng.sample_distinct(self.k, pool)) if 0 < pool < self.k else np.arange(self.k)
        order = np.argsort(self.preference(self.draws(rng, candidates)), kind="stable")
        return candidates[order[:batch]]

    def probs(self):
        return thompson_win_probabilities(self.alpha, self.beta, 0.5 if self.mode == "variance" else self.target)


class NaiveLearnability(BetaPosteriors):
    """SFL / LILO learnability p_hat (1 - p_hat), from a posterior or a deque of recent
    outcomes; topk with random ties or proportional; uniform slots; optional pool."""

    def __init__(self, n_arms, mode="topk", estimator="posterior", threshold=0.5, prior_alpha=1.0,
                 prior_beta=1.0, decay=1.0, window=64, uniform_mix=0.0, score_floor=0.01, pool_ratio=None):
        super().__init__(n_arms, threshold, prior_alpha, prior_beta, decay)
        self.k, self.mode, self.estimator = n_arms, mode, estimator
        self.rho, self.floor, self.pool_ratio = uniform_mix, score_floor, pool_ratio
        self.windows = [deque(maxlen=window) for _ in range(n_arms)] if estimator == "window" else []

    def update(self, arms, rewards, offsets):
        if self.estimator == "posterior":
            super().update(arms, rewards, offsets)
            return
        for arm, group in zip(arms, groups(rewards, offsets)):
            self.windows[arm].extend(bool(x >= self.threshold) for x in group)

    def scores(self):
        if self.estimator == "posterior":
            p_hat = self.alpha / (self.alpha + self.beta)
        else:
            prior_mean = self.prior[0] / (self.prior[0] + self.prior[1])
            p_hat = np.array([sum(w) / len(w) if w else prior_mean for w in self.windows])
        return p_hat * (1.0 - p_hat)

    def probs(self):
        w = np.maximum(self.scores(), self.floor)
        p = w / sum(w.tolist())
        return (1.0 - self.rho) * p + self.rho / self.k

    def sample(self, rng, batch):
        if batch > self.k:
            return sample_from_probs(rng, self.probs(), batch)
        pool = (self.pool_ratio or 0) * batch
        candidates = np.array(rng.sample_distinct(self.k, pool)) if 0 < pool < self.k else np.arange(self.k)
        n_uniform = sum(rng.uniform() < self.rho for _ in range(batch)) if self.rho > 0 else 0
        uniform_picks = rng.sample_distinct(len(candidates), n_uniform)
        score = self.scores()[candidates]
        topk = self.mode == "topk"
        keys = score if topk else np.maximum(score, self.floor)
        keys[uniform_picks] = -np.inf if topk else 0.0
        n_scored = batch - n_uniform
        if n_scored == 0:
            positions = []
        elif topk:
            cut = np.sort(keys)[::-1][n_scored - 1]
            above = np.flatnonzero(keys > cut)
            tied = np.flatnonzero(keys == cut)
            above = above[np.argsort(-keys[above], kind="stable")]
            positions = list(above) + [tied[j] for j in rng.sample_distinct(len(tied), n_scored - len(above))]
        else:
            positions = list(sample_from_probs(rng, keys / sum(keys.tolist()), n_scored))
        return candidates[np.array(list(positions) + list(uniform_picks), dtype=np.int64)]


def pick_rows(rng, order, starts, cursor, arms):
    """Twin of banditcurr.integrations._curriculum.pick_rows over lists: each arm walks
    a Fisher-Yates-shuffled cycle of its rows, reshuffled when used up. ``rng`` is a
    ``Xoshiro``; ``order`` and ``cursor`` are updated in place; returns the rows."""
    out = []
    for arm in arms:
        start, size = starts[arm], starts[arm + 1] - starts[arm]
        if cursor[arm] == size:
            for j in range(size - 1, 0, -1):
                r = rng.randint(j + 1)
                order[start + j], order[start + r] = order[start + r], order[start + j]
            cursor[arm] = 0
        out.append(order[start + cursor[arm]])
        cursor[arm] += 1
    return out


def learner_replay(steps, prompt, dist, size, coef, trained, loadings, learning_rate, forgetting, memorization,
                   adam=None):
    """Twin of banditcurr.sims._replay.replay, one step at a time: returns the base
    logits L[c_g] . theta_t + u_i,t of the groups (before their step) and theta after
    each step. ``steps``: the step of each group (sorted); ``adam``: None (plain step)
    or (beta1, beta2, eps)."""
    n_skills = loadings.shape[1]
    theta, first, second, count = np.zeros(n_skills), np.zeros(n_skills), np.zeros(n_skills), 0
    memo = np.zeros(int(prompt.max()) + 1)
    base = np.zeros(prompt.size)
    history = [theta.copy()]
    for t in np.unique(steps):
        rows = np.flatnonzero(steps == t)
        base[rows] = loadings[dist[rows]] @ theta + (memo[prompt[rows]] if memorization > 0 else 0.0)
        mine = rows[trained[rows]]
        n_rollouts = size[mine].sum()
        if n_rollouts > 0:
            gradient = coef[mine] @ loadings[dist[mine]] / n_rollouts
            if adam is None:
                theta = theta + learning_rate * gradient
            else:
                beta1, beta2, eps = adam
                count += 1
                first = beta1 * first + (1 - beta1) * gradient
                second = beta2 * second + (1 - beta2) * gradient ** 2
                theta = theta + learning_rate * (first / (1 - beta1 ** count)) / (
                    np.sqrt(second / (1 - beta2 ** count)) + eps)
            if memorization > 0:
                np.add.at(memo, prompt[mine], memorization / n_rollouts * coef[mine] * (size[mine] >= 2))
        theta = (1 - forgetting) * theta
        memo = (1 - forgetting) * memo
        history.append(theta.copy())
    return base, np.array(history)


def marginal_nll(prompt, dist, base, successes, size, mu, spread, nodes):
    """Twin of banditcurr.sims._replay.marginal_nll: -sum_i log sum_q w_q prod_g
    Binom(k_g | n_g, sigmoid(b_g - mu_c - s_c x_q)), w_q proportional to exp(-x_q^2 / 2)."""
    from scipy.special import comb

    weights = np.exp(-0.5 * nodes ** 2)
    weights /= weights.sum()
    total = 0.0
    for i in np.unique(prompt):
        rows = np.flatnonzero(prompt == i)
        c = dist[rows[0]]
        like = np.ones(nodes.size)
        for g in rows:
            p = 1.0 / (1.0 + np.exp(-(base[g] - mu[c] - spread[c] * nodes)))
            like *= comb(size[g], successes[g]) * p ** successes[g] * (1 - p) ** (size[g] - successes[g])
        total += np.log(weights @ like)
    return -total


class NaiveGreso:
    """GRESO: skip a drawn prompt with probability 1 - max(p^k, floor), k its streak of
    all-success (p = p_easy) or all-failure (p = p_hard) groups; p moved by +-step per
    update toward the target zero-variance shares; fill from the skipped."""

    def __init__(self, n_arms, threshold=0.5, target_zero_variance=0.25, easy_share=1 / 3, p_start=0.5,
                 p_step=0.01, p_min=0.05, p_max=0.95, keep_floor=0.01, pool_ratio=8):
        self.k, self.threshold, self.pool_ratio = n_arms, threshold, pool_ratio
        self.targets = (target_zero_variance * easy_share, target_zero_variance * (1.0 - easy_share))
        self.step, self.low, self.high, self.floor = p_step, p_min, p_max, keep_floor
        self.p_easy = self.p_hard = p_start
        self.easy, self.hard = [0] * n_arms, [0] * n_arms

    def update(self, arms, rewards, offsets):
        n_easy = n_hard = 0
        for arm, group in zip(arms, groups(rewards, offsets)):
            wins = int(np.sum(group >= self.threshold))
            all_won, none_won = wins == len(group), wins == 0
            self.easy[arm] = self.easy[arm] + 1 if all_won else 0
            self.hard[arm] = self.hard[arm] + 1 if none_won and not all_won else 0
            n_easy += all_won
            n_hard += none_won and not all_won
        move = lambda p, ratio, target: max(p - self.step, self.low) if ratio >= target else min(p + self.step,
                                                                                                  self.high)
        self.p_easy = move(self.p_easy, n_easy / len(arms), self.targets[0])
        self.p_hard = move(self.p_hard, n_hard / len(arms), self.targets[1])

    def keep(self, arm):
        streak, p = (self.easy[arm], self.p_easy) if self.easy[arm] else (self.hard[arm], self.p_hard)
        value = 1.0
        for _ in range(streak):  # p^streak, stopped below the floor or at a fixed point
            if value < self.floor or value * p == value:
                break
            value *= p
        return max(value, self.floor) if streak else 1.0

    def probs(self):
        keep = np.array([self.keep(k) for k in range(self.k)])
        return keep / sum(keep.tolist())

    def sample(self, rng, batch):
        if batch > self.k:
            return sample_from_probs(rng, self.probs(), batch)
        pool = (self.pool_ratio or 0) * batch
        kept, skipped = [], []
        for arm in rng.sample_distinct(self.k, pool if 0 < pool < self.k else self.k):
            keep = self.keep(arm)
            if keep < 1.0 and rng.uniform() < 1.0 - keep:
                skipped.append(arm)
            else:
                kept.append(arm)
                if len(kept) == batch:
                    break
        return np.array(kept + skipped[:batch - len(kept)], dtype=np.int64)


class NaiveRetire:
    """Retire a prompt while n >= min_trials and its Wilson lower bound >= pass_rate;
    uniform over the active, readmit_fraction of the batch from the retired."""

    def __init__(self, n_arms, threshold=0.5, pass_rate=0.9, min_trials=16.0, z=1.0, readmit_fraction=0.05,
                 decay=1.0):
        self.k, self.threshold, self.pass_rate, self.min_trials = n_arms, threshold, pass_rate, min_trials
        self.z, self.share, self.decay = z, readmit_fraction, decay
        self.successes, self.trials = np.zeros(n_arms), np.zeros(n_arms)

    def update(self, arms, rewards, offsets):
        for arm, group in zip(arms, groups(rewards, offsets)):
            self.successes[arm] = self.decay * self.successes[arm] + int(np.sum(group >= self.threshold))
            self.trials[arm] = self.decay * self.trials[arm] + len(group)

    def retired(self, arm):
        n = self.trials[arm]
        if n < self.min_trials:
            return False
        p, z2n = self.successes[arm] / n, self.z * self.z / n
        lower = (p + z2n / 2.0 - self.z * math.sqrt(max(p * (1.0 - p) / n + z2n / (4.0 * n), 0.0))) / (1.0 + z2n)
        return lower >= self.pass_rate

    def split(self):
        flags = [self.retired(k) for k in range(self.k)]
        return [k for k in range(self.k) if not flags[k]], [k for k in range(self.k) if flags[k]]

    def probs(self):
        active, retired = self.split()
        if not active or not retired:
            return np.full(self.k, 1.0 / self.k)
        p = np.empty(self.k)
        p[active] = (1.0 - self.share) / len(active)
        p[retired] = self.share / len(retired)
        return p

    def sample(self, rng, batch):
        if batch > self.k:
            return sample_from_probs(rng, self.probs(), batch)
        active, retired = self.split()
        n_readmit = 0
        if active and retired:
            expected = self.share * batch
            n_readmit = math.floor(expected)
            if expected > n_readmit and rng.uniform() < expected - n_readmit:
                n_readmit += 1
        n_readmit = min(max(n_readmit, batch - len(active)), len(retired))
        picks = [active[j] for j in rng.sample_distinct(len(active), batch - n_readmit)]
        picks += [retired[j] for j in rng.sample_distinct(len(retired), n_readmit)]
        return np.array(picks, dtype=np.int64)


class NaiveVcrl:
    """VCRL: normalised variance p = 4 k (G - k) / (G^2 - G mod 2) per group; a bank of
    prompts with p >= kappa (priority p, then a momentum average); a prompt-level batch
    replays the bank's top priorities, the rest uniform over the others."""

    def __init__(self, n_arms, threshold=0.5, kappa=0.8, momentum=0.9, replay_ratio=0.5):
        self.k, self.threshold, self.kappa, self.momentum, self.rho = n_arms, threshold, kappa, momentum, replay_ratio
        self.priority = np.zeros(n_arms)

    def update(self, arms, rewards, offsets):
        for arm, group in zip(arms, groups(rewards, offsets)):
            size = len(group)
            if size < 2:
                continue
            wins = int(np.sum(group >= self.threshold))
            p = 4.0 * wins * (size - wins) / (size * size - size % 2)
            if p < self.kappa:
                self.priority[arm] = 0.0
            elif self.priority[arm] > 0.0:
                self.priority[arm] = self.momentum * self.priority[arm] + (1.0 - self.momentum) * p
            else:
                self.priority[arm] = p

    def probs(self):
        total = sum(self.priority.tolist())
        if total == 0.0:
            return np.full(self.k, 1.0 / self.k)
        return (1.0 - self.rho) / self.k + self.rho * (self.priority / total)

    def sample(self, rng, batch):
        if batch > self.k:
            return sample_from_probs(rng, self.probs(), batch)
        bank = np.flatnonzero(self.priority > 0)
        n_replay = min(int(self.rho * batch), len(bank))
        chosen = []
        if n_replay > 0:
            keys = self.priority
            cut = np.sort(keys)[::-1][n_replay - 1]
            above = np.flatnonzero(keys > cut)
            tied = np.flatnonzero(keys == cut)
            above = above[np.argsort(-keys[above], kind="stable")]
            chosen = list(above) + [tied[j] for j in rng.sample_distinct(len(tied), n_replay - len(above))]
        taken = set(chosen)
        rest = [k for k in range(self.k) if k not in taken]
        return np.array(chosen + [rest[j] for j in rng.sample_distinct(len(rest), batch - n_replay)], dtype=np.int64)


def knapsack_value(p, n):
    """Knapsack-RL: V(N, p) = (1 - p^N - (1 - p)^N) p (1 - p)^2, powers by repeated products."""
    success_power = failure_power = 1.0
    for _ in range(n):
        success_power *= p
        failure_power *= 1.0 - p
    return (1.0 - success_power - failure_power) * (p * (1.0 - p) * (1.0 - p)) if n else 0.0


def allocate_knapsack(success, budget, min_size=2, max_size=None):
    """Exact knapsack by dynamic programming over (prompts, budget spent): each prompt 0
    or min_size..max_size rollouts; ties keep 0, then the fewest, for the later prompt."""
    high = min(max_size or budget, budget)
    best = [0.0] + [-math.inf] * budget
    choices = []
    for p in success:
        values = [knapsack_value(p, k) for k in range(high + 1)]
        nxt, pick = [], []
        for b in range(budget + 1):
            top, arg = best[b], 0
            for k in range(min_size, min(high, b) + 1):
                if best[b - k] > -math.inf and best[b - k] + values[k] > top:
                    top, arg = best[b - k] + values[k], k
            nxt.append(top)
            pick.append(arg)
        best = nxt
        choices.append(pick)
    out, left = [0] * len(success), budget
    for x in range(len(success) - 1, -1, -1):
        out[x] = choices[x][left]
        left -= out[x]
    return np.array(out, dtype=np.int64), best[budget]


def top_with_random_ties(rng, keys, batch):
    """Positions of the ``batch`` largest keys: those above the cut by (key descending,
    position), then the tied ones at the cut drawn with ``rng.sample_distinct``."""
    cut = np.sort(keys)[::-1][batch - 1]
    above = np.flatnonzero(keys > cut)
    tied = np.flatnonzero(keys == cut)
    above = above[np.argsort(-keys[above], kind="stable")]
    return np.array(list(above) + [tied[j] for j in rng.sample_distinct(len(tied), batch - len(above))],
                    dtype=np.int64)


class NaiveAdaRFT:
    """AdaRFT as its formula reads: T <- clip(T + eta% of [d_min, d_max] * tanh(alpha (R - beta)));
    the B labels nearest T (B <= K), or slots uniform over the nearest labels."""

    def __init__(self, n_arms, beta=0.5, alpha=2.0, eta=50.0, initial_target=0.0, d_min=None, d_max=None,
                 difficulty=None):
        self.d = np.arange(n_arms, dtype=float) if difficulty is None else np.array(difficulty, dtype=float)
        self.beta, self.alpha, self.eta = beta, alpha, eta
        self.bounds = (self.d.min(), self.d.max()) if d_min is None else (d_min, d_max)
        low, high = self.bounds
        self.target = min(low + initial_target / 100.0 * (high - low), high)

    def update(self, arms, rewards, offsets):
        values = list(np.asarray(rewards, dtype=float)[:offsets[-1]])
        low, high = self.bounds
        moved = self.target + self.eta / 100.0 * (high - low) * math.tanh(self.alpha * (seq_mean(values) - self.beta))
        self.target = min(max(moved, low), high)

    def probs(self):
        distance = np.abs(self.d - self.target)
        nearest = distance == distance.min()
        return nearest / nearest.sum()

    def sample(self, rng, batch):
        if batch > len(self.d):
            return sample_from_probs(rng, self.probs(), batch)
        return top_with_random_ties(rng, -np.abs(self.d - self.target), batch)


class NaiveE2H:
    """E2H's cosine and Gaussian schedules as the paper's sampler computes them, with
    levels x = d - min d; the step advances once per sample call, up to the horizon."""

    def __init__(self, n_arms, schedule="cosine", horizon=100, mu_exp=0.5, sigma=0.5, uniform_mix=None,
                 difficulty=None):
        self.d = np.arange(n_arms, dtype=float) if difficulty is None else np.array(difficulty, dtype=float)
        self.schedule, self.horizon, self.mu_exp, self.sigma, self.mix = schedule, horizon, mu_exp, sigma, uniform_mix
        self.step = 0

    def update(self, arms, rewards, offsets):
        pass

    def probs(self):
        x = self.d - self.d.min()
        levels = self.d.max() - self.d.min() + 1.0
        progress = self.step / self.horizon
        if self.schedule == "cosine":
            a = 0.5 * (1.0 + math.cos(math.pi * progress))
            w = [a * (levels - xk) + (1.0 - a) * (xk + 1.0) for xk in x]
            mix = 0.0 if self.mix is None else self.mix
        else:
            mu = progress ** self.mu_exp * (levels - 1.0)
            nearest = min((xk - mu) ** 2 for xk in x)
            w = [math.exp(-((xk - mu) ** 2 - nearest) / (2.0 * self.sigma ** 2)) for xk in x]
            mix = 2.0 / (levels + 1.0) if self.mix is None else self.mix
        total = 0.0
        for wk in w:
            total += wk
        return np.array([mix / len(x) + (1.0 - mix) * (wk / total) for wk in w])

    def sample(self, rng, batch):
        arms = sample_from_probs(rng, self.probs(), batch)
        self.step = min(self.step + 1, self.horizon)
        return arms
