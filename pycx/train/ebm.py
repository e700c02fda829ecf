"""Energy-based models of one layer's gate states (paper 004, appendix J; SPEC section 8).

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
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["GateEBM", "langevin", "EBM_DEFAULTS"]

# Documented defaults (SPEC section 8): sampler step dtau, number of steps K, initialisation,
# Adam learning rate of theta, f-value regulariser, running-mean momentum of p_hat, width of f.
EBM_DEFAULTS = dict(step_size=0.2, steps=5, init="data", lr=1e-3, f_reg=1e-3,
                    prior_momentum=0.1, hidden=64)

P_MIN, P_MAX = 0.01, 0.99  # clip of p_hat (SPEC section 8)


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

    @torch.no_grad()
    def value_and_grad(self, s):
        """f and df/ds without building an autograd graph (the sampler's inner loop: about
        half the ops of autograd.grad on these small layers)."""
        x = s.flatten(1)
        a1 = torch.addmm(self.l1.bias, x, self.l1.weight.t())
        z1 = torch.sigmoid(a1)
        h1 = a1 * z1
        a2 = torch.addmm(self.l2.bias, h1, self.l2.weight.t())
        z2 = torch.sigmoid(a2)
        f = torch.addmm(self.out.bias, a2 * z2, self.out.weight.t()).squeeze(-1)
        # silu'(a) = z (1 + a (1 - z))
        g2 = self.out.weight * (z2 * (1 + a2 * (1 - z2)))
        g1 = (g2 @ self.l2.weight) * (z1 * (1 + a1 * (1 - z1)))
        return f, (g1 @ self.l1.weight).view(s.shape)


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
        data = data.detach().to(self.p_hat.dtype)
        if init == "data":
            start = data
        else:  # init == "prior": independent draws from q
            u = torch.rand(data.shape, generator=generator, device=data.device, dtype=data.dtype)
            start = (u < self._p()).to(data.dtype)
        neg, acc = langevin(self, start, steps=steps, step_size=step_size, generator=generator)
        f_both = self.f(torch.cat([data, neg]))  # one pass over both sets
        f_data, f_neg = f_both[:len(data)], f_both[len(data):]
        loss = f_neg.mean() - f_data.mean() + f_reg * (f_data.square().mean() + f_neg.square().mean())
        if optimizer is not None:  # None: the caller steps one optimizer for several EBMs
            optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if optimizer is not None:
            optimizer.step()
        return {"gap": float((f_data.mean() - f_neg.mean()).detach()), "acceptance": acc}


def _f_and_grad(ebm: GateEBM, s: torch.Tensor):
    if isinstance(ebm.f, _VectorF):
        return ebm.f.value_and_grad(s)
    with torch.enable_grad():
        s = s.detach().requires_grad_(True)
        f = ebm.f(s)
        (g,) = torch.autograd.grad(f.sum(), s)
    return f.detach(), g


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
    p = ebm._p()
    logit_p = torch.log(p) - torch.log1p(-p)
    half_inv = 0.5 / step_size
    s = start.detach().clone()
    n = s.shape[0]
    f, g = _f_and_grad(ebm, s)
    accepted = 0.0
    for _ in range(steps):
        # +1 where a unit would turn on, -1 where it would turn off; its log q changes by
        # direction * logit(p) when it flips (exact on binary states)
        direction = 1.0 - 2.0 * s
        dq = direction * logit_p
        logits = 0.5 * (g + logit_p) * direction - half_inv
        u = torch.rand(s.shape, generator=generator, device=s.device, dtype=s.dtype)
        flip = u < torch.sigmoid(logits)
        flipf = flip.to(s.dtype)
        s_new = s + flipf * direction
        f_new, g_new = _f_and_grad(ebm, s_new)
        # reverse move s_new -> s: the same units flip back (directions read at s_new)
        direction_new = 1.0 - 2.0 * s_new
        back = 0.5 * (g_new + logit_p) * direction_new - half_inv
        # log proposal probability of a flip set: sum logsigmoid(-l) + sum_{flipped} l
        log_ratio = (f_new - f) + ((flipf * (dq + back - logits)).view(n, -1).sum(1)
                                   + (F.logsigmoid(-back) - F.logsigmoid(-logits)).view(n, -1).sum(1))
        a = torch.rand(log_ratio.shape, generator=generator, device=s.device, dtype=s.dtype)
        take = torch.log(a) < log_ratio
        accepted = accepted + take.to(s.dtype).mean()  # no host sync inside the loop
        view = (-1,) + (1,) * (s.dim() - 1)
        s = torch.where(take.view(view), s_new, s)
        f = torch.where(take, f_new, f)
        g = torch.where(take.view(view), g_new, g)
    return s, (float(accepted) / steps if steps else 1.0)
