"""Energy-based models of one layer's gate states (paper 004, appendix J; docs/definitions.md §8).

``p(sigma) = exp(f(sigma; theta)) q(sigma) / Z``: `q` a product of Bernoulli(``p_hat_i``) priors
(``p_hat`` the running mean of each unit's gate, clipped to [0.01, 0.99]), `f` a small MLP for
vector gates and a small ConvNet for ``(C, H, W)`` gates. The energy is
``E = -log q - f`` (eq. 32).

**Sampler** (eq. 36, restricted to binary states). The Langevin step of eq. 36 moves a state by
``(dtau/2) * d log p / d sigma`` plus Gaussian noise of variance ``dtau``. `langevin` evaluates that
Gaussian proposal on the two values each unit can take ({0, 1}), which gives each unit an
independent flip probability ``sigmoid(g_i (1 - 2 sigma_i) / 2 - 1 / (2 dtau))`` (``g`` the
gradient of ``log p``; the prior's part is its exact flip difference ``logit(p_hat_i)``), and
accepts or rejects the proposed state per chain with a Metropolis-Hastings test. The chain thus
samples the EBM's own distribution on ``{0, 1}^d``: the samples are binary, so "thresholding"
them is the identity. Why not Langevin on the relaxed states in ``[0, 1]`` followed by a
threshold: for one unit with log-odds ``a`` that chain's thresholded rate is ``sigmoid(a / 2)``,
so an EBM fitted with it learns about twice the true log-odds (see docs/decisions.md).

**Learning** (eq. 37): one Adam step on ``mean f(negatives) - mean f(data)`` (``log q`` does not
depend on theta), plus ``f_reg * mean(f^2)`` over both sets, which keeps f's free constant from
drifting. Negatives: ``steps`` sampler steps started from the batch's own states (short-run,
default) or from q.

**Stacks.** `EBMStack` runs L EBMs of one unit shape as one batched computation (what
`pycx.ComplexityLoss` does for its layers); on the CPU each sampler step's elementwise work is
the fused kernel `pycx.kernels.gate_mh`, elsewhere torch ops. For vector gates f's gradient,
eq. 37's parameter gradient and the penalty's backward are written out in closed form.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["GateEBM", "EBMStack", "langevin", "EBM_DEFAULTS"]

# Documented defaults (definitions §8): sampler step dtau, number of steps K, initialisation,
# Adam learning rate of theta, f-value regulariser, running-mean momentum of p_hat, width of f.
EBM_DEFAULTS = dict(step_size=0.2, steps=5, init="data", lr=1e-3, f_reg=1e-3,
                    prior_momentum=0.1, hidden=64)

P_MIN, P_MAX = 0.01, 0.99  # clip of p_hat (docs/definitions.md §8)
# Flip logits of the sampler's proposal are clamped to +-30 (flip probabilities within 1e-13 of
# 0 or 1): exp stays finite in float32, and the proposal is still a proper distribution.
LOGIT_CLAMP = 30.0


class _VectorF(nn.Module):
    """f for vector gates: d -> hidden -> hidden -> 1 with smooth (SiLU) activations, so that
    the gradient in sigma that the sampler and the penalty use is continuous."""

    def __init__(self, d: int, hidden: int):
        super().__init__()
        self.l1 = nn.Linear(d, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 1)

    def forward(self, s):
        h = F.silu(self.l1(s.flatten(1)))
        h = F.silu(self.l2(h))
        return self.out(h).squeeze(-1)


class _ConvF(nn.Module):
    """f for (C, H, W) gates: two 3x3 convolutions with stride 2 (hidden/8 and hidden/4
    channels, at least 8), global mean pooling and a linear read-out."""

    def __init__(self, channels: int, hidden: int):
        super().__init__()
        # Narrow, both convolutions with stride 2: the sampler runs f 2 x steps times per
        # batch, so f must stay cheap next to the network itself.
        w1, w2 = max(8, hidden // 8), max(8, hidden // 4)
        self.c1 = nn.Conv2d(channels, w1, 3, stride=2, padding=1)
        self.c2 = nn.Conv2d(w1, w2, 3, stride=2, padding=1)
        self.out = nn.Linear(w2, 1)

    def forward(self, s):
        h = F.silu(self.c1(s))
        h = F.silu(self.c2(h))
        return self.out(h.mean(dim=(2, 3))).squeeze(-1)


class GateEBM(nn.Module):
    """EBM of the gate states of one layer with per-sample shape `unit_shape`.

    >>> ebm = GateEBM((6,), hidden=8)
    >>> ebm.update_prior(torch.tensor([[1., 0, 1, 0, 1, 0]] * 4))
    >>> ebm.log_density(torch.zeros(2, 6)).shape
    torch.Size([2])
    """

    def __init__(self, unit_shape: Sequence[int], *, hidden: int = EBM_DEFAULTS["hidden"],
                 prior_momentum: float = EBM_DEFAULTS["prior_momentum"]):
        super().__init__()
        self.unit_shape = tuple(int(s) for s in unit_shape)
        self.conv = len(self.unit_shape) == 3
        d = math.prod(self.unit_shape)
        self.f = _ConvF(self.unit_shape[0], hidden) if self.conv else _VectorF(d, hidden)
        self.prior_momentum = float(prior_momentum)
        self.register_buffer("p_hat", torch.full(self.unit_shape, 0.5))
        self.register_buffer("n_updates", torch.zeros((), dtype=torch.long))

    # --- prior q ----------------------------------------------------------------------------
    @torch.no_grad()
    def update_prior(self, bits: torch.Tensor) -> None:
        """Running mean of the unit rates: the first batch sets it, later ones move it by
        ``prior_momentum`` (gates drift while the network trains)."""
        mean = bits.to(self.p_hat.dtype).mean(0)
        if int(self.n_updates) == 0:
            self.p_hat.copy_(mean)
        else:
            self.p_hat.lerp_(mean, self.prior_momentum)
        self.n_updates += 1

    def _p(self):
        return self.p_hat.clamp(P_MIN, P_MAX)

    def log_q(self, s: torch.Tensor) -> torch.Tensor:
        """``sum_i log q(s_i)`` with eq. 41's relaxation ``q(s_i) = 1 - p + s_i (2p - 1)``
        (the Bernoulli probability on binary states, positive on all of [0, 1])."""
        p = self._p()
        return torch.log1p(-p + s * (2 * p - 1)).flatten(1).sum(1)

    def log_density(self, s: torch.Tensor) -> torch.Tensor:
        """Unnormalised ``log p = f(s) + log q(s)`` per row (log Z left out), in nats."""
        return self.f(s) + self.log_q(s)

    def energy(self, s: torch.Tensor) -> torch.Tensor:
        """``E = -log q - f`` (eq. 32)."""
        return -self.log_density(s)

    # --- learning ---------------------------------------------------------------------------
    def training_step(self, data: torch.Tensor, optimizer: Optional[torch.optim.Optimizer], *,
                      step_size: float = EBM_DEFAULTS["step_size"],
                      steps: int = EBM_DEFAULTS["steps"], init: str = EBM_DEFAULTS["init"],
                      f_reg: float = EBM_DEFAULTS["f_reg"],
                      generator: Optional[torch.Generator] = None) -> dict:
        """One eq. 37 update on binary gate states `data` ``(n, *unit_shape)``; returns the
        contrastive gap and the sampler's acceptance rate."""
        if optimizer is not None:  # None: the caller steps one optimizer for several EBMs
            optimizer.zero_grad(set_to_none=True)
        st = EBMStack([self]).training_step(data.unsqueeze(0), [step_size], steps=steps,
                                            init=init, f_reg=f_reg, generator=generator)
        if optimizer is not None:
            optimizer.step()
        return {"gap": st["gap"][0], "acceptance": st["acceptance"][0]}


class EBMStack:
    """``L`` EBMs of one unit shape run as one batched computation: states are ``(L, n,
    *unit_shape)``, the L networks' weights are stacked per call (batched matrix products for
    vector gates, grouped convolutions for (C, H, W) gates), so the sampler and the learning
    step issue each tensor op once for all L layers rather than L times. The EBMs keep their own
    parameters; gradients reach them through the stacking. With L = 1 it is the single EBM.

    >>> torch.manual_seed(0) is not None
    True
    >>> ebms = [GateEBM((6,), hidden=8) for _ in range(3)]
    >>> stack = EBMStack(ebms)
    >>> s = (torch.rand(3, 5, 6) < 0.5).float()
    >>> lp = stack.log_density(s)
    >>> lp.shape
    torch.Size([3, 5])
    >>> bool(torch.allclose(lp[2], ebms[2].log_density(s[2]), atol=1e-5))
    True
    """

    def __init__(self, ebms: Sequence[GateEBM]):
        self.ebms = list(ebms)
        if not self.ebms:
            raise ValueError("argument 'ebms' must hold at least one GateEBM")
        shape = self.ebms[0].unit_shape
        if any(e.unit_shape != shape for e in self.ebms):
            raise ValueError("argument 'ebms': every EBM of a stack must have the same unit "
                             f"shape, got {[e.unit_shape for e in self.ebms]}")
        self.unit_shape, self.conv = shape, self.ebms[0].conv
        self.L = len(self.ebms)
        # Parameter lists per role, read once (nn.Module attribute lookups cost more than the
        # stacking itself); the parameters are updated in place, so the lists stay valid.
        fs = [e.f for e in self.ebms]
        if self.conv:
            self._params = [[f.c1.weight for f in fs], [f.c1.bias for f in fs],
                            [f.c2.weight for f in fs], [f.c2.bias for f in fs],
                            [f.out.weight for f in fs], [f.out.bias for f in fs]]
        else:
            self._params = [[f.l1.weight for f in fs], [f.l1.bias for f in fs],
                            [f.l2.weight for f in fs], [f.l2.bias for f in fs],
                            [f.out.weight for f in fs], [f.out.bias for f in fs]]
        self._p_hats = [e.p_hat for e in self.ebms]
        self._owned = None  # stacked leaf tensors, once `share_parameters` ran

    def share_parameters(self) -> list:
        """Vector gates: moves the L EBMs' parameters into six stacked leaf tensors, one per
        role, and makes each EBM's parameters views of its slice (same storage: the EBMs stay
        usable on their own and always show the current values). Then `weights()` needs no
        stacking and an optimizer over the returned six tensors updates all L EBMs at once
        (a fused Adam step over 6 tensors instead of 6 L). Returns the stacked tensors; for
        (C, H, W) gates nothing changes and it returns the EBMs' own parameters.

        >>> ebms = [GateEBM((4,), hidden=3) for _ in range(2)]
        >>> stacked = EBMStack(ebms).share_parameters()
        >>> [tuple(t.shape) for t in stacked][:2]
        [(2, 3, 4), (2, 3)]
        >>> with torch.no_grad(): _ = stacked[0].zero_()
        >>> float(ebms[1].f.l1.weight.detach().abs().sum())
        0.0
        """
        if self.conv:
            return self.parameters()
        if self._owned is None:
            owned = [torch.stack([t.detach() for t in role]).requires_grad_(True)
                     for role in self._params]
            for role, big in zip(self._params, owned):
                for l, prm in enumerate(role):
                    prm.data = big.data[l]  # the EBM's Parameter now aliases its slice
            self._owned = owned
        return list(self._owned)

    def parameters(self) -> list:
        """Every EBM's parameters, role by role."""
        return [p for role in self._params for p in role]

    def weights(self, detach: bool = False, transposed: bool = True) -> tuple:
        """The L networks' parameters, stacked (detached: for the sampler and the penalty,
        where the EBMs are held fixed; with `transposed`, three contiguous transposed copies
        follow for the sampler's products). Vector gates: ``(L, h, d)``, ``(L, 1, h)``, ``(L, h,
        h)``, ``(L, 1, h)``, ``(L, 1, h)``, ``(L, 1, 1)``; (C, H, W) gates: the grouped
        convolutions' weights and biases concatenated, then ``(L, w2)`` and ``(L,)``."""
        if self._owned is not None:
            w1, b1, w2, b2, wo, bo = (t.detach() if detach else t for t in self._owned)
            w = (w1, b1.unsqueeze(1), w2, b2.unsqueeze(1), wo, bo.unsqueeze(1))
            if detach and transposed:
                w += tuple(t.transpose(1, 2).contiguous() for t in (w1, w2, wo))
            return w
        roles = [[t.detach() for t in role] for role in self._params] if detach else self._params
        if self.conv:
            cat = (lambda ts: ts[0]) if self.L == 1 else torch.cat
            w1, b1, w2, b2, wo, bo = roles
            return (cat(w1), cat(b1), cat(w2), cat(b2), torch.cat(wo), torch.cat(bo))
        w1, b1, w2, b2, wo, bo = (torch.stack(role) for role in roles)
        w = (w1, b1.unsqueeze(1), w2, b2.unsqueeze(1), wo, bo.unsqueeze(1))
        if detach and transposed:
            # transposed copies for the no-grad paths: a contiguous right-hand side makes the
            # batched products ~15% faster, and the sampler uses each one 2 x steps times
            w += tuple(torch.stack([t.t() for t in role]) for role in (roles[0], roles[2], roles[4]))
        return w

    def f(self, w: tuple, s: torch.Tensor) -> torch.Tensor:
        """f of each EBM on its own states: ``s`` ``(L, m, *unit_shape)`` -> ``(L, m)``."""
        if self.conv:
            w1, b1, w2, b2, wo, bo = w
            m = s.shape[1]
            x = s.transpose(0, 1).reshape((m, -1) + s.shape[3:])  # (m, L*C, H, W)
            h = F.silu(F.conv2d(x, w1, b1, stride=2, padding=1, groups=self.L))
            h = F.silu(F.conv2d(h, w2, b2, stride=2, padding=1, groups=self.L))
            h = h.mean(dim=(2, 3)).view(m, self.L, -1)
            return ((h * wo).sum(-1) + bo).t()
        w1, b1, w2, b2, wo, bo = w[:6]
        h = F.silu(torch.baddbmm(b1, s.flatten(2), w1.transpose(1, 2)))
        h = F.silu(torch.baddbmm(b2, h, w2.transpose(1, 2)))
        return torch.baddbmm(bo, h, wo.transpose(1, 2)).squeeze(-1)

    def f_and_grad(self, w: tuple, s: torch.Tensor):
        """f and df/ds (the sampler's inner loop). Vector gates: in closed form without an
        autograd graph (about half the ops of autograd.grad on these small layers)."""
        if self.conv:
            with torch.enable_grad():
                s = s.detach().requires_grad_(True)
                f = self.f(w, s)
                (g,) = torch.autograd.grad(f.sum(), s)
            return f.detach(), g
        with torch.no_grad():
            w1t = w[6] if len(w) > 6 else w[0].transpose(1, 2)
            return self._vector_tail(w, torch.baddbmm(w[1], s.flatten(2), w1t), s.shape)

    @staticmethod
    def _vector_layers(w, a1):
        """The rest of f's forward pass from the first layer's pre-activations: ``(z1, h1,
        z2, h2, f)`` with ``z = sigmoid(a)``, ``h = silu(a) = a z``."""
        w2t, wot = w[7:9] if len(w) > 6 else (w[2].transpose(1, 2), w[4].transpose(1, 2))
        z1 = torch.sigmoid(a1)
        h1 = a1 * z1
        a2 = torch.baddbmm(w[3], h1, w2t)
        z2 = torch.sigmoid(a2)
        h2 = a2 * z2
        return z1, h1, z2, h2, torch.baddbmm(w[5], h2, wot).squeeze(-1)

    @torch.no_grad()
    def _vector_tail(self, w, a1, shape):
        """f and df/ds of vector gates from the first layer's pre-activations ``a1``."""
        w1, w2, wo = w[0], w[2], w[4]
        z1, h1, z2, h2, f = self._vector_layers(w, a1)
        # silu'(a) = z + a z (1 - z) = (z + h) - h z
        g2 = torch.addcmul(z2 + h2, h2, z2, value=-1.0) * wo
        g1 = torch.bmm(g2, w2) * torch.addcmul(z1 + h1, h1, z1, value=-1.0)
        return f, torch.bmm(g1, w1).view(shape)

    def p_hat(self) -> torch.Tensor:
        """Clipped prior rates, ``(L, 1, *unit_shape)``."""
        return torch.stack(self._p_hats).clamp_(P_MIN, P_MAX).unsqueeze(1)

    def log_density(self, s: torch.Tensor, w: Optional[tuple] = None) -> torch.Tensor:
        """``f + log q`` per EBM and row (log Z left out): ``(L, m, *unit_shape)`` ->
        ``(L, m)``; `w` defaults to the current (differentiable) weights."""
        p = self.p_hat()
        log_q = torch.log1p(torch.addcmul(-p, s, 2 * p - 1)).flatten(2).sum(2)
        return self.f(self.weights() if w is None else w, s) + log_q

    @torch.no_grad()
    def update_prior(self, bits: torch.Tensor) -> None:
        """`GateEBM.update_prior` of each EBM on its own states ``(L, n, *unit_shape)``."""
        if any(int(e.n_updates) == 0 for e in self.ebms) or len({e.prior_momentum for e in self.ebms}) > 1:
            for e, b in zip(self.ebms, bits):
                e.update_prior(b)
            return
        means = bits.to(self._p_hats[0].dtype).mean(1).unbind()
        torch._foreach_lerp_(self._p_hats, means, self.ebms[0].prior_momentum)
        torch._foreach_add_([e.n_updates for e in self.ebms], 1)

    def sample(self, start: torch.Tensor, step_sizes: Sequence[float], *,
               steps: int = EBM_DEFAULTS["steps"], generator: Optional[torch.Generator] = None,
               backend: str = "auto", weights: Optional[tuple] = None):
        """`steps` Metropolis-adjusted Langevin steps (module docstring) of each EBM from its
        `start` ``(L, n, *unit_shape)``, one chain per row, with EBM l's step ``step_sizes[l]``.
        Returns ``(states, per-EBM acceptance rates)``; the states are detached 0/1 floats.
        `backend`: "native" runs each step's elementwise work in pycx's fused CPU kernel
        (`pycx.kernels.gate_mh`; CPU float32/float64), "torch" as torch ops (any device),
        "auto" the first that applies. Both sample the same chain, with different random
        streams. `weights`: the detached `weights()`, if the caller has them already."""
        if backend not in ("auto", "native", "torch"):
            raise ValueError(f"argument 'backend' must be 'auto', 'native' or 'torch', got {backend!r}")
        native_ok = start.device.type == "cpu" and start.dtype in (torch.float32, torch.float64)
        if backend == "native" and not native_ok:
            raise ValueError("argument 'backend': 'native' needs CPU float32/float64 states, got "
                             f"{start.dtype} on {start.device}")
        s = start.detach().clone()
        L, n = s.shape[:2]
        if steps == 0:
            return s, [1.0] * L
        w = self.weights(detach=True) if weights is None else weights
        logit_p = torch.logit(self.p_hat())
        unit = (1,) * (s.dim() - 2)
        neg_half_inv = torch.tensor([-0.5 / float(t) for t in step_sizes], dtype=s.dtype,
                                    device=s.device).view((L, 1) + unit)
        if native_ok and backend != "torch":
            return self._sample_native(w, s, logit_p, neg_half_inv, steps, generator)
        f, g = self.f_and_grad(w, s)
        accepted = torch.zeros(L, dtype=s.dtype, device=s.device)
        for _ in range(steps):
            # +1 where a unit would turn on, -1 where it would turn off; its log q changes by
            # direction * logit(p) when it flips (exact on binary states)
            direction = torch.rsub(s, 1.0, alpha=2.0)
            logits = torch.addcmul(neg_half_inv, g + logit_p, direction, value=0.5)
            logits = logits.clamp_(-LOGIT_CLAMP, LOGIT_CLAMP)
            # flip with probability sigmoid(logits): floor(u + p) is 1 iff u >= 1 - p (float
            # arithmetic; a bool comparison costs several times more on the CPU)
            u = torch.rand(s.shape, generator=generator, device=s.device, dtype=s.dtype)
            flip = u.add_(torch.sigmoid(logits)).floor_()
            move = flip * direction
            s_new = s + move
            f_new, g_new = self.f_and_grad(w, s_new)
            # reverse move s_new -> s: the same units flip back (directions read at s_new)
            back = torch.addcmul(neg_half_inv, g_new + logit_p, torch.rsub(s_new, 1.0, alpha=2.0),
                                 value=0.5).clamp_(-LOGIT_CLAMP, LOGIT_CLAMP)
            # log proposal probability of a flip set: sum_{flipped} l - sum softplus(l), so
            # per unit: flip * (back - logits) + softplus(logits) - softplus(back); log q
            # changes by move * logit(p). softplus difference as one log of a ratio (the
            # clamp keeps exp finite; both directions use the clamped logits, so the chain
            # stays exact).
            per_unit = torch.addcmul(move * logit_p, flip, back - logits)
            per_unit += torch.log(torch.exp(logits).add_(1.0).div_(torch.exp(back).add_(1.0)))
            log_ratio = (f_new - f) + per_unit.flatten(2).sum(2)
            a = torch.rand(log_ratio.shape, generator=generator, device=s.device, dtype=s.dtype)
            take = (torch.log(a) < log_ratio).to(s.dtype)
            accepted = accepted + take.sum(1)  # no host sync inside the loop
            # lerp with weight 0 or 1 returns exactly start or end
            keep = take.view((L, n) + unit)
            s = torch.lerp(s, s_new, keep)
            f = torch.lerp(f, f_new, take)
            g = torch.lerp(g, g_new, keep)
        return s, (accepted / (n * steps)).tolist()

    def _sample_native(self, w, s, logit_p, neg_half_inv, steps, generator):
        from ..kernels import gate_mh

        L, n = s.shape[:2]
        rows = (L, n, -1)
        s3 = s.reshape(rows).contiguous()
        f, g = self.f_and_grad(w, s3.view(s.shape))
        g3 = g.reshape(rows).contiguous()
        # One seed per call from torch's generator: runs repeat under torch.manual_seed.
        seed = int(torch.randint(0, 2**62, (), generator=generator))
        chain = gate_mh.Chain(s3.numpy(), g3.numpy(), f.contiguous().numpy(),
                              logit_p.reshape(L, -1).contiguous().numpy(),
                              neg_half_inv.reshape(L).contiguous().numpy(), seed)
        s_new = torch.from_numpy(chain.s_new).view(s.shape)
        total = np.zeros(L, dtype=np.int64)
        for k in range(steps):
            chain.propose(2 * k)
            f_new, g_new = self.f_and_grad(w, s_new)
            total += chain.accept(g_new.reshape(rows).contiguous().numpy(),
                                  f_new.contiguous().numpy(), 2 * k + 1)
        return s3.view(s.shape), (total / (n * steps)).tolist()

    def training_step(self, data: torch.Tensor, step_sizes: Sequence[float], *,
                      steps: int = EBM_DEFAULTS["steps"], init: str = EBM_DEFAULTS["init"],
                      f_reg: float = EBM_DEFAULTS["f_reg"],
                      generator: Optional[torch.Generator] = None) -> dict:
        """Eq. 37 losses of all L EBMs on their binary states `data` ``(L, n, *unit_shape)``,
        summed and back-propagated (each EBM's loss reaches only its own parameters); the caller
        steps the optimizer. Returns per-EBM lists of contrastive gaps and acceptance rates."""
        data = data.detach().to(self.ebms[0].p_hat.dtype)
        if init == "data":
            start = data
        else:  # init == "prior": independent draws from q
            start = torch.bernoulli(self.p_hat().expand(data.shape), generator=generator)
        w = None if self.conv else self.weights(detach=True)  # fixed until the optimizer steps
        neg, acc = self.sample(start, step_sizes, steps=steps, generator=generator, weights=w)
        n = data.shape[1]
        both = torch.cat([data, neg], 1)  # one pass over both sets
        if not self.conv:
            f_both = self._vector_learning_grads(w, both, n, f_reg)
            f_data, f_neg = f_both[:, :n], f_both[:, n:]
        else:
            with torch.enable_grad():
                f_both = self.f(self.weights(), both)
                f_data, f_neg = f_both[:, :n], f_both[:, n:]
                loss = (f_neg.mean(1) - f_data.mean(1)
                        + f_reg * (f_data.square().mean(1) + f_neg.square().mean(1)))
                loss.sum().backward()
        return {"gap": (f_data.mean(1) - f_neg.mean(1)).detach().tolist(), "acceptance": acc}

    @torch.no_grad()
    def _vector_learning_grads(self, w, x, n, f_reg):
        """Eq. 37's gradient for vector gates in closed form, accumulated into each EBM's
        ``.grad``: ``x`` holds each EBM's n data rows, then its negatives. The loss per EBM is
        ``mean f(neg) - mean f(data) + f_reg (mean f(data)^2 + mean f(neg)^2)``; its derivative
        in f_i is ``+-1/n + 2 f_reg f_i / n``, back-propagated by hand through the two SiLU
        layers (an autograd graph of the same 30-odd ops costs about twice as much here).
        Returns f of every row."""
        w1, b1, w2, b2, wo, bo, w1t, w2t, wot = w
        x = x.flatten(2)
        z1, h1, z2, h2, f = self._vector_layers(w, torch.baddbmm(b1, x, w1t))
        sign = torch.ones(f.shape[1], dtype=f.dtype, device=f.device)
        sign[:n] = -1.0
        c = torch.add(sign / n, f, alpha=2.0 * f_reg / n)  # d loss / d f per row
        da2 = (c.unsqueeze(-1) * wo) * torch.addcmul(z2 + h2, h2, z2, value=-1.0)
        da1 = torch.bmm(da2, w2) * torch.addcmul(z1 + h1, h1, z1, value=-1.0)
        grads = (torch.bmm(da1.transpose(1, 2), x), da1.sum(1), torch.bmm(da2.transpose(1, 2), h1),
                 da2.sum(1), torch.bmm(c.unsqueeze(1), h2), c.sum(1, keepdim=True))
        if self._owned is not None:
            for big, g in zip(self._owned, grads):
                big.grad = g.view(big.shape) if big.grad is None else big.grad.add_(g.view(big.shape))
            return f
        params = self.parameters()
        grads = [g for role in grads for g in role.unbind()]  # role by role, as parameters()
        if all(prm.grad is not None for prm in params):
            torch._foreach_add_([prm.grad for prm in params],
                                [g.view(prm.shape) for g, prm in zip(grads, params)])
        else:
            for prm, g in zip(params, grads):
                g = g.reshape(prm.shape)
                prm.grad = g.clone() if prm.grad is None else prm.grad + g
        return f

    def penalty(self, s: torch.Tensor) -> torch.Tensor:
        """Eq. 38 per EBM on relaxed states ``s`` ``(L, n, *unit_shape)``: ``-(1/n) sum_j
        log p(s_j)`` (log Z left out), shape ``(L,)``, differentiable in ``s`` only (the EBMs
        are held fixed). Vector gates: one autograd node whose backward is the closed-form
        ``d log p / d s``."""
        w = self.weights(detach=True, transposed=False)  # one product each: views suffice
        if self.conv:
            return -self.log_density(s, w).mean(1)
        return _VectorPenalty.apply(s, self, w)


class _VectorPenalty(torch.autograd.Function):
    @staticmethod
    def forward(ctx, s, stack, w):
        p = stack.p_hat()
        f, g = stack.f_and_grad(w, s)
        q = torch.addcmul(1 - p, s, 2 * p - 1)  # the relaxed Bernoulli probability (eq. 41)
        log_q = torch.log(q).flatten(2).sum(2)
        ctx.save_for_backward(g + (2 * p - 1) / q)  # d log p / d s
        return -(f + log_q).mean(1)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        (dlogp,) = ctx.saved_tensors
        n = dlogp.shape[1]
        scale = (grad_out / -n).view((-1, 1) + (1,) * (dlogp.dim() - 2))
        return dlogp * scale, None, None


def langevin(ebm: GateEBM, start: torch.Tensor, *, steps: int = EBM_DEFAULTS["steps"],
             step_size: float = EBM_DEFAULTS["step_size"],
             generator: Optional[torch.Generator] = None):
    """`steps` Metropolis-adjusted Langevin steps of eq. 36 on binary states (module
    docstring) from `start` ``(n, *unit_shape)``, one chain per row. Returns
    ``(states, acceptance rate)``; the states are detached 0/1 floats.

    >>> torch.manual_seed(0) is not None
    True
    >>> ebm = GateEBM((5,), hidden=4); ebm.update_prior(torch.ones(3, 5) * 0.8)
    >>> s, acc = langevin(ebm, torch.zeros(100, 5), steps=50)
    >>> bool(0.6 < s.mean() < 0.95)
    True
    """
    s, acc = EBMStack([ebm]).sample(start.unsqueeze(0), [step_size], steps=steps,
                                    generator=generator)
    return s[0], acc[0]
