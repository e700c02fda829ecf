"""Paper 004's complexity loss ``L = L_task + lambda * sum_l H(Sigma_l)`` (section 4.3,
appendix J; docs/definitions.md §8).

`ComplexityLoss` attaches to a torch model and, during every forward pass run with autograd
on, keeps the pre-activation ``x`` of each chosen ReLU-family gating layer (with its graph).
`penalty()` then (1) trains each layer's `GateEBM` by one eq. 37 step on the batch's binary gates
``x > 0`` (the network is not touched: the gates are detached), and (2) returns
``sum_l -(1/n) sum_j [f(s_j) + log q(s_j)]`` (eq. 38, log Z held constant) on the relaxed gates
``s = sigmoid(beta * x)`` (eq. 40), differentiable in the model's parameters. The forward pass
itself is unchanged (exact ReLU). The penalty is in nats per layer, up to each layer's constant
log Z.

Layer names follow ``pycx.capture``: an op run by an activation module is named after the
module's path (``blocks.0.act``); an op called functionally inside a module's forward is
``<module path>.<kind>`` (``<kind>`` in the top-level forward); the k-th repeated call (k >= 1)
of a name in one forward pass gets ``:k``.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from typing import Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..gates.kinds import RELU_FAMILY
from ..gates.tracer import GateTracer, check_model
from .ebm import EBM_DEFAULTS, EBMStack, GateEBM

__all__ = ["ComplexityLoss", "GATE_KINDS"]

TARGET_ACCEPTANCE, ADAPT_RATE, STEP_MIN, STEP_MAX = 0.6, 0.5, 1e-3, 2.0

GATE_KINDS = RELU_FAMILY  # the gates penalised: pre-activation x, gate x > 0

# In-place forms of the ReLU-family ops (their input is overwritten: a copy is kept).
_IN_PLACE = {torch.relu_, torch.Tensor.relu_, getattr(F, "leaky_relu_", None), getattr(F, "elu_", None),
             getattr(F, "rrelu_", None), torch.rrelu_, torch.selu_, torch.celu_}
# Position of the `inplace` argument of the functional forms.
_INPLACE_ARG = {F.relu: 1, F.relu6: 1, F.elu: 2, F.leaky_relu: 2, F.hardtanh: 3, F.selu: 1,
                F.celu: 2, F.rrelu: 4, F.hardswish: 1, F.mish: 1, F.silu: 1}


def _in_place(func, args, kwargs):
    if func in _IN_PLACE:
        return True
    if kwargs.get("inplace", False):
        return True
    pos = _INPLACE_ARG.get(func)
    return pos is not None and len(args) > pos and bool(args[pos])


class ComplexityLoss:
    """Complexity penalty of paper 004 on the gating layers of `model` (module docstring).

    - `layers`: None (the last ``n_layers`` ReLU-family gating layers in forward order, 4 as in
      the paper), a layer name, or a list of names (see `gating_layers` after one forward).
    - `beta`: slope of the relaxation ``sigmoid(beta * x)`` (eq. 40); must be > 0.
    - EBM settings (defaults in `pycx.train.ebm.EBM_DEFAULTS`): `hidden` (width of f),
      `steps` and `step_size` (K and dtau of the sampler), `init` ("data": chains start at the
      batch's own states; "prior": at draws from q), `lr` (Adam), `f_reg`, `prior_momentum`.
    - `adapt_step`: after each EBM step, multiply the layer's dtau by
      ``exp(0.5 * (acceptance - 0.6))`` (kept in [1e-3, 2]); wide layers need a smaller step
      than the default 0.2 for the sampler to accept its proposals.
    - `example`: an input batch; if given, the model is run on it once (without autograd) so
      that the layers are resolved, and bad layer names rejected, at construction.

    Plain training loop (three added lines marked)::

        cx = ComplexityLoss(model)                              # 1
        for x, y in loader:
            loss = loss_fn(model(x), y)
            loss = loss + lam * cx.penalty()                    # 2 (EBM step, then penalty)
            opt.zero_grad(); loss.backward(); opt.step()
        cx.remove()                                             # 3

    >>> torch.manual_seed(0) is not None
    True
    >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> cx = ComplexityLoss(net, hidden=8, steps=2)
    >>> out = net(torch.randn(16, 4))
    >>> cx.layers
    ['1', '3']
    >>> pen = cx.penalty(); pen.backward(); bool(torch.isfinite(pen))
    True
    >>> cx.remove()
    """

    def __init__(self, model: nn.Module, layers: "str | Sequence[str] | None" = None, *,
                 beta: float = 5.0, n_layers: int = 4,
                 hidden: int = EBM_DEFAULTS["hidden"], steps: int = EBM_DEFAULTS["steps"],
                 step_size: float = EBM_DEFAULTS["step_size"], init: str = EBM_DEFAULTS["init"],
                 lr: float = EBM_DEFAULTS["lr"], f_reg: float = EBM_DEFAULTS["f_reg"],
                 prior_momentum: float = EBM_DEFAULTS["prior_momentum"], adapt_step: bool = True,
                 example: Optional[torch.Tensor] = None) -> None:
        from .._validate import check_choice, check_int, check_positive

        scan = check_model(model)
        if layers is not None:
            wanted = [layers] if isinstance(layers, str) else layers
            try:
                wanted = list(wanted)
            except TypeError:
                raise TypeError("argument 'layers' must be None, a layer name or a list of names, "
                                f"got {type(layers).__name__}") from None
            if not wanted or not all(isinstance(w, str) for w in wanted):
                raise TypeError(f"argument 'layers' must be a non-empty list of layer names (str), "
                                f"got {layers!r}")
            layers = wanted
        self.model = model
        self._wanted = layers
        self.beta = check_positive("beta", beta)
        self.n_layers = check_int("n_layers", n_layers, minimum=1)
        self.hidden = check_int("hidden", hidden, minimum=1)
        self.steps = check_int("steps", steps, minimum=0)
        self.step_size = check_positive("step_size", step_size)
        self.init = check_choice("init", init, ("data", "prior"))
        self.lr = check_positive("lr", lr)
        self.f_reg = check_positive("f_reg", f_reg, allow_zero=True)
        self.prior_momentum = check_positive("prior_momentum", prior_momentum)
        if self.prior_momentum > 1:
            raise ValueError(f"argument 'prior_momentum' must be in (0, 1], got {prior_momentum!r}")

        self.adapt_step = bool(adapt_step)
        self.step_sizes = {}       # per-layer sampler step (adapted when adapt_step)
        self.ebms: "OrderedDict[str, GateEBM]" = OrderedDict()
        self._stacks = {}          # tuple of layer names -> EBMStack over their EBMs
        self._owner = OrderedDict()  # layer name -> its persistent EBMStack
        self._optim = None
        self._layers = None        # chosen names, fixed by the first forward pass
        self._gating = None        # all ReLU-family gating layers, forward order
        self._x = OrderedDict()    # name -> pre-activation of the last forward (with graph)
        self._pending = None       # name -> pre-activation, during a forward pass
        self.last = {}             # per-layer penalty values (floats) and EBM stats of the last call
        self._tracer = GateTracer(model, self, scan=scan).attach()
        if example is not None:
            with torch.no_grad():
                self._resolve_only = True
                try:
                    model(example)
                finally:
                    self._resolve_only = False

    _resolve_only = False

    # --- the tracer's client (pycx.gates.tracer) ---------------------------------------------
    def forward_started(self, args, kwargs):
        if not (torch.is_grad_enabled() or self._resolve_only):
            return False  # evaluation passes are not penalised
        self._pending = OrderedDict()
        return True

    def _keep(self, call):
        if call.kind not in RELU_FAMILY:
            return False
        return not self._resolve_only and (self._layers is None or call.name in self._layers)

    def function_gate(self, call):
        if self._keep(call):
            # An in-place op overwrites x: keep a (differentiable) copy of the pre-activation.
            x = call.x
            self._pending[call.name] = x.clone() if _in_place(call.func, call.args, call.kwargs) else x
        return call.run()

    def module_gate(self, call):
        if self._keep(call):
            self._pending[call.name] = call.x
        return False

    def module_gate_output(self, call, output):
        pass

    def forward_finished(self, ok):
        pending, self._pending = self._pending, None
        if not ok:
            return  # a pass that raised fixes nothing and replaces nothing
        seen = [n for n, kind in self._tracer.seen.items() if kind in RELU_FAMILY]
        if self._layers is None:
            self._resolve(seen)
        if not self._resolve_only:
            self._x = OrderedDict((n, pending[n]) for n in self._layers if n in pending)

    def _resolve(self, seen):
        if not seen:
            raise ValueError(f"model {type(self.model).__name__} has no gating layers: no "
                             f"ReLU-family op ({', '.join(GATE_KINDS)}) ran in its forward pass")
        if self._wanted is None:
            chosen = seen[-self.n_layers:]
        else:
            missing = [w for w in self._wanted if w not in seen]
            if missing:
                raise ValueError(f"argument 'layers': {missing} are not gating layers of "
                                 f"{type(self.model).__name__}; its ReLU-family gating layers "
                                 f"are {seen}")
            chosen = [n for n in seen if n in set(self._wanted)]
        self._gating, self._layers = seen, chosen

    # --- public -----------------------------------------------------------------------------
    @property
    def layers(self) -> list:
        """Names of the penalised layers (after the first forward pass)."""
        if self._layers is None:
            raise RuntimeError("layers are known after the model's first forward pass "
                               "(or pass example= to ComplexityLoss)")
        return list(self._layers)

    @property
    def gating_layers(self) -> list:
        """All ReLU-family gating layers of the model, in forward order."""
        self.layers  # raises before the first forward
        return list(self._gating)

    def _ebm(self, name, x):
        ebm = self.ebms.get(name)
        if ebm is None:
            ebm = GateEBM(x.shape[1:], hidden=self.hidden, prior_momentum=self.prior_momentum)
            ebm = ebm.to(device=x.device, dtype=x.dtype)
            self.ebms[name] = ebm
            self._optim = None  # rebuilt over every EBM's parameters
        return ebm

    def _optimizer(self):
        if self._optim is None:
            # One Adam over all layers' EBMs, fused (one kernel per step) where torch has it;
            # vector EBMs through their stacks' shared tensors (6 per stack, not 6 per layer).
            params = [p for st in self._stacks.values() for p in st.share_parameters()]
            fused = all(p.device.type in ("cpu", "cuda") for p in params)
            self._optim = torch.optim.Adam(params, lr=self.lr, fused=fused, foreach=not fused)
        return self._optim

    def _recorded(self):
        if not self._x:
            raise RuntimeError("no recorded forward pass: call the model (with autograd on) "
                               "before penalty() / update()")
        empty = [n for n, x in self._x.items() if x.shape[0] == 0]
        if empty:
            # Checked before the EBMs see the batch: an empty batch would make their priors NaN.
            raise ValueError(f"the last forward pass had an empty batch (0 samples at layers "
                             f"{empty}): no penalty is defined; skip empty batches")
        return self._x

    def _groups(self, recorded):
        """The recorded layers as ``(names, stack, owner)`` in forward order. Layers with the
        same unit shape, dtype and device share one persistent `EBMStack` (one batched
        computation instead of one per layer; vector EBMs keep their parameters in the stack's
        shared tensors). A batch in which only some of a stack's layers ran, or ran with
        different batch sizes, uses temporary stacks of those layers (``owner``: the persistent
        stack, into whose shared gradients theirs are folded)."""
        for name, x in recorded.items():
            self._ebm(name, x)
        new = OrderedDict()
        for name, x in recorded.items():
            if name not in self._owner:
                new.setdefault((tuple(x.shape[1:]), x.dtype, x.device), []).append(name)
        for names in new.values():
            stack = EBMStack([self.ebms[n] for n in names])
            stack.share_parameters()
            self._stacks[tuple(names)] = stack
            self._owner.update((n, stack) for n in names)
            self._optim = None  # rebuilt over the stacked parameters
        out, done = [], set()
        for name in recorded:
            stack = self._owner[name]
            if id(stack) in done:
                continue
            done.add(id(stack))
            names = [e_name for e_name in self._stack_names(stack)]
            present = [n for n in names if n in recorded]
            sizes = {recorded[n].shape[0] for n in present}
            if present == names and len(sizes) == 1:
                out.append((names, stack, None))
                continue
            for size in sorted(sizes):
                part = [n for n in present if recorded[n].shape[0] == size]
                out.append((part, EBMStack([self.ebms[n] for n in part]), stack))
        return out

    def _stack_names(self, stack):
        return [n for n in self._owner if self._owner[n] is stack]

    def _fold_grads(self, names, owner):
        """Adds the per-layer gradients of a temporary stack's layers into their slices of
        the owner's shared gradients (vector EBMs; (C, H, W) EBMs own their parameters)."""
        if owner._owned is None:
            return
        index = {n: i for i, n in enumerate(self._stack_names(owner))}
        for big, role in zip(owner._owned, owner._params):
            if big.grad is None:
                big.grad = torch.zeros_like(big)
            for n in names:
                prm = role[index[n]]
                if prm.grad is not None:
                    big.grad[index[n]] += prm.grad
                    prm.grad = None

    def update(self) -> dict:
        """One EBM step per layer (eq. 37) on the binary gates of the last forward pass; the
        network's graph is not touched. Returns per-layer sampler acceptance rates."""
        stats = {}
        recorded = self._recorded()
        groups = self._groups(recorded)
        opt = self._optimizer()
        opt.zero_grad(set_to_none=False)  # zeroed in place: the gradients then add in one op
        for names, stack, owner in groups:
            bits = (torch.stack([recorded[n].detach() for n in names]) > 0).to(recorded[names[0]].dtype)
            stack.update_prior(bits)
            steps = [self.step_sizes.get(n, self.step_size) for n in names]
            st = stack.training_step(bits, steps, steps=self.steps, init=self.init, f_reg=self.f_reg)
            if owner is not None:
                self._fold_grads(names, owner)
            for i, name in enumerate(names):
                step, acc = steps[i], st["acceptance"][i]
                if self.adapt_step and self.steps:
                    # Flip proposals grow with the number of units: steer the step towards an
                    # acceptance rate of TARGET_ACCEPTANCE (wide layers need a small dtau).
                    step = min(max(step * math.exp(ADAPT_RATE * (acc - TARGET_ACCEPTANCE)),
                                   STEP_MIN), STEP_MAX)
                self.step_sizes[name] = step
                stats[name] = {"gap": st["gap"][i], "acceptance": acc, "step_size": step}
        opt.step()
        return stats

    def layer_penalties(self, update: bool = True) -> "OrderedDict[str, torch.Tensor]":
        """Per-layer eq. 38 terms (0-d tensors with graph) for the last forward pass; with
        `update` the EBMs take their step first. A non-finite term raises FloatingPointError
        naming its layer."""
        stats = self.update() if update else {}
        recorded = self._recorded()
        terms = {}
        for names, stack, _ in self._groups(recorded):
            s = torch.sigmoid(self.beta * torch.stack([recorded[n] for n in names]))
            values = stack.penalty(s)  # the EBMs are held fixed during the network's update
            terms.update(zip(names, values.unbind()))
        out = OrderedDict((n, terms[n]) for n in recorded)
        values = torch.stack([v.detach() for v in out.values()]).cpu().tolist()
        for (name, _), v in zip(out.items(), values):
            if v != v or v in (float("inf"), float("-inf")):
                raise FloatingPointError(
                    f"complexity penalty of layer {name!r} is {v}: its pre-activations or its "
                    "EBM hold non-finite values; not propagated into the weights")
        self.last = {"penalty": dict(zip(out, values)), "ebm": stats}
        return out

    def penalty(self, update: bool = True) -> torch.Tensor:
        """``sum_l`` of the eq. 38 terms (nats, log Z held constant) for the last forward
        pass, differentiable in the model's parameters; `update`: train the EBMs on this
        batch first (docs/definitions.md §8: the EBM first, on every batch)."""
        terms = self.layer_penalties(update=update)
        return torch.stack(list(terms.values())).sum()

    def remove(self) -> None:
        """Detaches the hooks; the EBMs are kept. (A loss freed without it detaches too.)"""
        self._tracer.detach()
        self._x = OrderedDict()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()
        return False
