"""Vectorized stacks of K networks and the randomized-prior ensemble module.

Training K small networks one after the other wastes the hardware: each step
is too small to keep it busy and pays Python's overhead K times. Here the K
members live in one module whose parameters carry a leading member axis, so
one forward, one backward and one optimizer step serve all of them.

Two vectorization strategies, chosen by :func:`stack_modules`:

* :class:`BatchedSequential` -- ``nn.Sequential`` stacks of ``nn.Linear`` and
  parameter-free elementwise activations (the default :class:`~skrpf.MLP`)
  become batched matrix products (``bmm``) on ``(K, in, out)`` weights, and
  one autograd node with a written-out backward
  (:mod:`skrpf._stack_gradients`).
* :class:`VmapStack` -- any other module is run through
  :func:`torch.func.functional_call` under :func:`torch.func.vmap` over
  parameters stacked by :func:`torch.func.stack_module_state`.

Parameter-free modules (fixed-function priors such as
:class:`~skrpf.SinePrior`) are simply evaluated one by one
(:class:`LoopStack`): they are cheap and have nothing to stack.
"""

from __future__ import annotations

import copy
import itertools
from typing import cast

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from ._stack_gradients import ELEMENTWISE, Layer, StackFunction, forward_stack


def _register(module: nn.Module, name: str, tensor: torch.Tensor, trainable: bool) -> None:
    # Frozen tensors are buffers: they follow .to(device) and state_dict, but
    # never reach the optimizer or the weight-decay penalty.
    if trainable:
        module.register_parameter(name, nn.Parameter(tensor.detach().clone()))
    else:
        module.register_buffer(name, tensor.detach().clone())


def _is_plain_mlp(module: nn.Module) -> bool:
    if not isinstance(module, nn.Sequential) or len(module) == 0:
        return False
    if not isinstance(module[0], nn.Linear):
        return False
    return all(isinstance(layer, nn.Linear) or type(layer) in ELEMENTWISE for layer in module)


#: Members and priors with more tensor elements than this, together, are not
#: copied into a joint prediction stack: it saves torch calls, which matter
#: for small networks, and its copy of the weights would matter for large ones.
_JOINT_STACK_MAX_ELEMENTS = 1 << 22


#: Training runs through :class:`StackFunction` from this many elements in
#: the widest activation (members x batch x width) up. Below, its fixed cost
#: (~0.1 ms a step in Python) outweighs what it saves. Measured step by step
#: against autograd: ten 2x50 MLPs on 100 rows (50,000 elements) equally
#: fast, on 256 rows (128,000) 1% faster with ReLU but 5% slower with SiLU;
#: from 327,000 elements (batch 128, width 256) ReLU members 7% faster; the
#: training loop of ten 2x256 MLPs at batch 1,024 13-16% faster.
_STACK_FUNCTION_MIN_ELEMENTS = 1 << 18


def _functorch_transforms_active() -> bool:
    """Whether a torch.func transform (grad, vmap, jacrev, ...) is running.

    :class:`StackFunction` computes its backward itself, which these
    transforms cannot trace. torch has no public test for this; without its
    private one (a future torch), the stack assumes none is active.
    """
    check = getattr(torch._C, "_are_functorch_transforms_active", None)
    return bool(check is not None and check())


def _layers_of_positions(activations: list[nn.Module | None], tensors: dict) -> tuple[Layer, ...]:
    """The :class:`Layer` list of a stack from its per-position activations (None at products)."""
    grouped: list[tuple[bool, list[nn.Module]]] = []
    for position, activation in enumerate(activations):
        if activation is None:
            grouped.append((f"bias_{position}" in tensors, []))
        else:
            grouped[-1][1].append(activation)
    return tuple(Layer(has_bias, block) for has_bias, block in grouped)


class BatchedSequential(nn.Module):
    """K copies of a ``Linear``/activation ``nn.Sequential`` as batched weights.

    Parameters
    ----------
    members : list of torch.nn.Sequential
        Networks of identical structure; their current weights are copied.
    trainable : bool
        Register the stacked weights as parameters (True) or frozen buffers.
    """

    def __init__(self, members: list[nn.Module], trainable: bool):
        super().__init__()
        self.n_members = len(members)
        layers = [list(member.children()) for member in members]
        # Activations are stateless, so one shared instance per position serves
        # every member; Linear positions are marked with None.
        self.activations: list[nn.Module | None] = []
        for position, layer in enumerate(layers[0]):
            if isinstance(layer, nn.Linear):
                linears = [cast(nn.Linear, member_layers[position]) for member_layers in layers]
                # (K, in, out): x @ W^T for every member at once.
                weight = torch.stack([linear.weight.t() for linear in linears])
                _register(self, f"weight_{position}", weight, trainable)
                if layer.bias is not None:
                    bias = torch.stack([cast(torch.Tensor, linear.bias) for linear in linears]).unsqueeze(1)
                    _register(self, f"bias_{position}", bias, trainable)
                self.activations.append(None)
            else:
                self.activations.append(copy.deepcopy(layer))
        self._index_layers()

    def _index_layers(self) -> None:
        """Derive ``layers`` and ``widest_layer`` from ``activations`` and the stacked tensors."""
        tensors = self._tensors()
        self.layers = _layers_of_positions(self.activations, tensors)
        self.widest_layer = max(t.shape[2] for name, t in tensors.items() if name.startswith("weight_"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``x`` of shape (batch, in), or (K, batch, in) with one batch per member, to (K, batch, out)."""
        # The tensor dictionary's values, in registration order, are each
        # layer's weight then bias: what the stack's functions take.
        tensors = tuple(self._tensors().values())
        if (
            torch.is_grad_enabled()
            # Before the size test, which torch.export would record as a guard on
            # the batch size, and torch.jit.trace as a constant (with a warning).
            and not (torch.compiler.is_compiling() or torch.jit.is_tracing())
            # A chunk of a larger stack (n_jobs) takes the whole stack's path,
            # so that its members compute what they would have computed there.
            and self.__dict__.get("dispatch_members", self.n_members) * x.shape[-2] * self.widest_layer
            >= _STACK_FUNCTION_MIN_ELEMENTS
            and not _functorch_transforms_active()
        ):
            # One autograd node for the whole stack, with a written-out backward.
            return StackFunction.apply(x, self.layers, *tensors)
        # Without gradients, for small networks, under torch.func's transforms
        # (which cannot trace a written-out backward) and under torch.export,
        # torch.compile or torch.jit.trace (whose graph would otherwise hold only
        # for the batch sizes on one side of the threshold), autograd records
        # the forward pass itself.
        return forward_stack(x, self.layers, tensors)

    def __setstate__(self, state):
        super().__setstate__(state)
        if "layers" not in self.__dict__:  # pickled before the stack had its layer list
            self._index_layers()

    def _tensors(self) -> dict[str, torch.Tensor]:
        return cast(dict, self._parameters if "weight_0" in self._parameters else self._buffers)

    def can_join(self, other: nn.Module) -> bool:
        """Whether ``other`` is a stack of the same layers: same shapes, same activations."""
        if not isinstance(other, BatchedSequential) or len(other.activations) != len(self.activations):
            return False
        same_activations = all(
            repr(a) == repr(b) for a, b in zip(self.activations, other.activations, strict=True)
        )
        mine, theirs = self._tensors(), other._tensors()
        same_tensors = mine.keys() == theirs.keys() and all(
            mine[name].shape[1:] == theirs[name].shape[1:] for name in mine
        )
        return same_activations and same_tensors

    def join(self, other: BatchedSequential) -> BatchedSequential:
        """A frozen stack of this stack's members followed by ``other``'s (see :meth:`can_join`).

        Its tensors are detached copies: later changes to either stack do not reach it.
        """
        joint = BatchedSequential.__new__(BatchedSequential)
        nn.Module.__init__(joint)
        joint.n_members = self.n_members + other.n_members
        joint.activations = self.activations
        theirs = other._tensors()
        for name, tensor in self._tensors().items():
            joint.register_buffer(name, torch.cat([tensor.detach(), theirs[name].detach()]))
        joint._index_layers()
        return joint

    def output_layer_inputs(self, x: torch.Tensor) -> torch.Tensor | None:
        """The inputs of the last product, (K, batch, width); None if an activation follows it."""
        if self.layers[-1].activations:
            return None
        if len(self.layers) == 1:  # a single product: its inputs are x itself
            return x.expand(self.n_members, *x.shape) if x.dim() == 2 else x
        tensors = tuple(self._tensors().values())
        last = 2 if self.layers[-1].has_bias else 1
        return forward_stack(x, self.layers[:-1], tensors[:-last])

    def output_layer(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The last product's weights (K, width, out) and bias (K, 1, out) or None."""
        tensors = list(self._tensors().values())
        if self.layers[-1].has_bias:
            return tensors[-2], tensors[-1]
        return tensors[-1], None

    def set_output_layer(self, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
        """Overwrite the last product's weights (K, width, out) and bias (K, 1, out) in place."""
        own_weight, own_bias = self.output_layer()
        with torch.no_grad():
            own_weight.copy_(weight)
            if own_bias is not None and bias is not None:
                own_bias.copy_(bias)

    def unstack(self, index: int, template: nn.Module) -> nn.Module:
        """Return member ``index`` as a standalone copy of ``template``."""
        member = copy.deepcopy(template)
        with torch.no_grad():
            for position, layer in enumerate(member.children()):
                if isinstance(layer, nn.Linear):
                    layer.weight.copy_(getattr(self, f"weight_{position}")[index].t())
                    if layer.bias is not None:
                        layer.bias.copy_(getattr(self, f"bias_{position}")[index, 0])
        return member


class VmapStack(nn.Module):
    """K copies of an arbitrary module, run with ``torch.func.vmap``.

    Parameters
    ----------
    members : list of torch.nn.Module
        Modules of identical structure; their current state is copied.
    trainable : bool
        Register the stacked parameters as parameters (True) or frozen buffers.
    """

    def __init__(self, members: list[nn.Module], trainable: bool):
        super().__init__()
        self.n_members = len(members)
        params, buffers = stack_module_state(members)
        self._param_names = list(params)
        self._buffer_names = list(buffers)
        for i, name in enumerate(self._param_names):
            _register(self, f"param_{i}", params[name], trainable)
        for i, name in enumerate(self._buffer_names):
            self.register_buffer(f"buffer_{i}", buffers[name].detach().clone())
        # The template only supplies the code of forward; functional_call
        # substitutes every tensor, so it is kept out of the module tree.
        self._template = [copy.deepcopy(members[0])]

    def _state(self) -> tuple[dict, dict]:
        params = {n: getattr(self, f"param_{i}") for i, n in enumerate(self._param_names)}
        buffers = {n: getattr(self, f"buffer_{i}") for i, n in enumerate(self._buffer_names)}
        return params, buffers

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``x`` of shape (batch, in), or (K, batch, in) with one batch per member, to (K, batch, out)."""
        template = self._template[0]
        template.train(self.training)

        def call_one(params, buffers, inputs):
            return functional_call(template, (params, buffers), (inputs,))

        params, buffers = self._state()
        x_dim = 0 if x.dim() == 3 else None
        return vmap(call_one, in_dims=(0, 0, x_dim), randomness="different")(params, buffers, x)

    def unstack(self, index: int, template: nn.Module) -> nn.Module:
        """Return member ``index`` as a standalone copy of ``template``."""
        member = copy.deepcopy(template)
        params, buffers = self._state()
        state = {n: t[index] for n, t in {**params, **buffers}.items()}
        member.load_state_dict(state, strict=False)
        return member


class LoopStack(nn.Module):
    """K modules evaluated one after the other.

    Used for parameter-free modules (fixed-function priors), which have
    nothing to stack, and for modules that cannot be vectorized.

    Parameters
    ----------
    members : list of torch.nn.Module
        The modules, used as they are (not copied).
    """

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        self.n_members = len(members)
        # Copies: a factory that returns one shared instance must not tie members together.
        self.members = nn.ModuleList(copy.deepcopy(m) for m in members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``x`` of shape (batch, in), or (K, batch, in) with one batch per member, to (K, batch, out)."""
        return self._apply_each(list(self.members), x)

    @staticmethod
    def _apply_each(modules: list[nn.Module], x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 3:
            return torch.stack([module(x_k) for module, x_k in zip(modules, x, strict=True)])
        return torch.stack([module(x) for module in modules])

    def _ends_in_linear(self) -> bool:
        return all(isinstance(m, nn.Sequential) and isinstance(m[-1], nn.Linear) for m in self.members)

    def output_layer_inputs(self, x: torch.Tensor) -> torch.Tensor | None:
        """As :meth:`BatchedSequential.output_layer_inputs`, for Sequential members ending in a Linear."""
        if not self._ends_in_linear():
            return None
        return self._apply_each([cast(nn.Sequential, m)[:-1] for m in self.members], x)

    def output_layer(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The members' last Linear layers, stacked as :meth:`BatchedSequential.output_layer` gives them."""
        linears = [cast(nn.Linear, cast(nn.Sequential, m)[-1]) for m in self.members]
        weight = torch.stack([linear.weight.t() for linear in linears])
        if linears[0].bias is None:
            return weight, None
        return weight, torch.stack([cast(torch.Tensor, linear.bias) for linear in linears]).unsqueeze(1)

    def unstack(self, index: int, template: nn.Module) -> nn.Module:
        """Return member ``index`` (a copy)."""
        return copy.deepcopy(self.members[index])


def stack_modules(modules: list[nn.Module], trainable: bool, vectorize: bool = True) -> nn.Module:
    """Vectorize K modules of one architecture into a single module.

    Parameters
    ----------
    modules : list of torch.nn.Module
        The K members, all built by the same factory.
    trainable : bool
        Whether the stacked tensors are trainable parameters.
    vectorize : bool, default=True
        False keeps the modules as they are, evaluated one by one
        (:class:`LoopStack`): the fallback for modules that vmap cannot run.

    Returns
    -------
    stack : torch.nn.Module
        Maps ``x`` of shape (batch, in) to (K, batch, out), with the same
        values as ``torch.stack([m(x) for m in modules])``; given ``x`` of
        shape (K, batch, in), member ``k`` gets ``x[k]``, as
        ``torch.stack([m(x_k) for m, x_k in zip(modules, x)])``.
    """
    first = modules[0]
    if not vectorize:
        return LoopStack(modules)
    if _is_plain_mlp(first):
        return BatchedSequential(modules, trainable)
    has_state = any(True for _ in first.parameters()) or any(True for _ in first.buffers())
    if not has_state:
        return LoopStack(modules)
    return VmapStack(modules, trainable)


class RandomizedPriorEnsemble(nn.Module):
    """All K members ``Q_k(x) = f_k(x) + prior_scale * p_k(x)`` in one module.

    ``forward`` returns the trainable parts ``f_k(x)`` only: during training
    the frozen prior term is folded into the regression targets once (it
    never changes), so it is not recomputed at every step.
    :meth:`predict_members` returns the full ``Q_k(x)``.

    Parameters
    ----------
    members : list of torch.nn.Module
        The K trainable networks ``f_k``.
    priors : list of torch.nn.Module or None
        The K prior networks ``p_k``; None when ``prior_scale == 0``.
    prior_scale : float
        The factor ``beta`` in front of the priors.
    vectorize : bool, default=True
        Passed to :func:`stack_modules`.
    """

    def __init__(
        self,
        members: list[nn.Module],
        priors: list[nn.Module] | None,
        prior_scale: float,
        vectorize: bool = True,
    ):
        super().__init__()
        self.n_members = len(members)
        self.members = stack_modules(members, trainable=True, vectorize=vectorize)
        self.priors = None if priors is None else stack_modules(priors, trainable=False, vectorize=vectorize)
        if self.priors is not None:
            self.priors.requires_grad_(False)
            self.priors.eval()
        self.prior_scale = float(prior_scale)
        # Set after training where the small-data recipe applies (see predict_members).
        self.cap_spread_at_prior = False
        # (key, joint stack or None, source tensors), built by _joint_stack on first use.
        self._joint: tuple | None = None

    def __getstate__(self):
        # The joint stack is a cache: it is rebuilt, never pickled or saved.
        state = self.__dict__.copy()
        state["_joint"] = None
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        self.__dict__.setdefault("_joint", None)  # pickled before the cache existed
        self.__dict__.setdefault("cap_spread_at_prior", False)  # pickled before the cap existed

    def train(self, mode: bool = True):
        """Set the members' training mode; the priors always stay in eval mode.

        A prior is a fixed function: with BatchNorm or dropout in train mode
        it would change from one call to the next.
        """
        super().train(mode)
        if self.priors is not None:
            self.priors.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Trainable parts ``f_k(x)``, shape (K, batch, out)."""
        return self.members(x)

    @property
    def device(self) -> torch.device:
        """The device of the ensemble's tensors; CPU for parameter-free ones."""
        # The stacks' own tensor dictionaries first: this runs at every
        # prediction, and walking the module tree costs ~10 us.
        first: torch.Tensor | None = next(iter(self.members._parameters.values()), None)
        if first is None:
            first = next(itertools.chain(self.parameters(), self.buffers()), None)
        return torch.device("cpu") if first is None else first.device

    def prior_term(self, x: torch.Tensor) -> torch.Tensor | None:
        """``prior_scale * p_k(x)``, shape (K, batch, out), or None without priors.

        Differentiable in ``x`` when ``x`` requires grad, as gradients of the
        predictions with respect to the inputs need (the priors' own tensors
        are frozen buffers either way). Otherwise, as in training, where the
        term is computed once for the targets, no graph is recorded.
        """
        if self.priors is None:
            return None
        if x.requires_grad:
            return self.prior_scale * self.priors(x)
        with torch.no_grad():
            return self.prior_scale * self.priors(x)

    def can_cap_spread(self) -> bool:
        """Whether the priors end in a product whose weights :meth:`prior_variance` can integrate out."""
        priors = self.priors
        if isinstance(priors, BatchedSequential):
            return not priors.layers[-1].activations
        return isinstance(priors, LoopStack) and priors._ends_in_linear()

    def prior_variance(self, x: torch.Tensor, hidden: torch.Tensor | None = None) -> torch.Tensor:
        """The variance of ``prior_scale * p(x)`` with the priors' output layer integrated out.

        For prior ``k`` with last hidden features ``h_k(x)`` and an output
        layer of independent zero-mean weights of variance ``v_w`` and biases
        of variance ``v_b``, ``Var[p_k(x)] = v_w ||h_k(x)||^2 + v_b``. The
        variances are the second moments of the K priors' own output layers
        (K * width weights), so any zero-mean initialisation is covered; the
        result is averaged over the K hidden layers. It is a smooth function
        of ``x``: the Monte Carlo error of K draws of the output layer, which
        the members' spread carries, is gone.

        Parameters
        ----------
        x : torch.Tensor of shape (batch, in)
        hidden : torch.Tensor of shape (K, batch, width), optional
            ``priors.output_layer_inputs(x)``, where already computed.

        Returns
        -------
        torch.Tensor of shape (batch, out)
        """
        priors = cast(BatchedSequential | LoopStack, self.priors)
        if hidden is None:
            hidden = cast(torch.Tensor, priors.output_layer_inputs(x))
        weight_variance, bias_variance = self.prior_output_variances()
        squared_norm = hidden.square().sum(dim=-1).mean(dim=0)  # (batch,)
        return squared_norm.unsqueeze(-1) * weight_variance + bias_variance

    def prior_output_variances(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Second moments ``v_w``, ``v_b`` of the priors' output layer per output, times ``prior_scale**2``.

        :meth:`prior_variance` is ``mean_k ||h_k(x)||^2`` times the first plus the second.
        """
        weight, bias = cast(BatchedSequential | LoopStack, self.priors).output_layer()
        squared_scale = self.prior_scale**2
        weight_variance = squared_scale * weight.square().mean(dim=(0, 1))  # (out,)
        if bias is None:
            return weight_variance, torch.zeros_like(weight_variance)
        return weight_variance, squared_scale * bias.square().mean(dim=(0, 1))

    def predict_members(self, x: torch.Tensor, joint_stack: bool = True) -> torch.Tensor:
        """Full member outputs ``Q_k(x)``, shape (K, batch, out).

        Without gradients, members and priors of the same layers run as one
        stack of 2K networks: the same products, member by member, in half
        the calls, which is most of the cost of a one-row prediction
        (``joint_stack=False`` turns this off, for traces and exports).

        With ``cap_spread_at_prior`` (the small-data recipe), the members'
        deviations from their mean are shrunk, point by point, so that their
        variance is at most :meth:`prior_variance`: a posterior's variance
        never exceeds its prior's. Far from the data, where the trained
        networks keep random functions of their own and the spread of K
        members would be about sqrt(2) times the prior's std with a Monte
        Carlo error of 1/sqrt(2K), the spread becomes the prior's smooth
        std; near the data, where the members agree, nothing changes. The
        mean is unchanged, and every consumer of the members (``predict``,
        ``sample_y``, gradients, BoTorch, exports) sees the same capped
        members.
        """
        if self.cap_spread_at_prior:
            return self._capped_members(x)
        joint = None if torch.is_grad_enabled() or not joint_stack else self._joint_stack()
        if joint is not None:
            both = joint.forward(x)  # a plain stack: no hooks to run
            members, priors = both[: self.n_members], both[self.n_members :]
            # 1.0 * p is p exactly; skipping the product saves a call.
            return members + priors if self.prior_scale == 1.0 else members + self.prior_scale * priors
        out = self.members(x)
        prior = self.prior_term(x)
        return out if prior is None else out + prior

    def _capped_members(self, x: torch.Tensor) -> torch.Tensor:
        """:meth:`predict_members` with the spread capped, from one pass of the priors."""
        priors = cast(BatchedSequential | LoopStack, self.priors)
        hidden = cast(torch.Tensor, priors.output_layer_inputs(x))
        weight, bias = priors.output_layer()
        prior = hidden @ weight if bias is None else torch.baddbmm(bias, hidden, weight)
        out = self.members(x) + self.prior_scale * prior
        return cap_spread(out, self.prior_variance(x, hidden))

    def _joint_stack(self) -> BatchedSequential | None:
        """Members and priors stacked into one frozen :class:`BatchedSequential`, or None.

        None also when they hold more than ``_JOINT_STACK_MAX_ELEMENTS``
        elements: the copy would then cost memory and save little time.
        Cached, keyed on the storage address and version counter of every
        tensor: an optimizer step, ``load_state_dict`` or any in-place change
        bumps a version, and ``.to()`` or ``.double()`` moves the storage, so
        each rebuilds it. The cache holds the storages it was built from, so
        no new tensor can reuse their addresses. (Writes through ``.data``
        bypass version counters, as they bypass autograd's checks.)
        """
        members, priors = self.members, self.priors
        if not (isinstance(members, BatchedSequential) and isinstance(priors, BatchedSequential)):
            return None
        tensors = [*members._tensors().values(), *priors._tensors().values()]
        key = [t._version for t in tensors] + [t.data_ptr() for t in tensors]
        if self._joint is None or self._joint[0] != key:
            small = sum(t.numel() for t in tensors) <= _JOINT_STACK_MAX_ELEMENTS
            joint = members.join(priors) if small and members.can_join(priors) else None
            self._joint = (key, joint, [t.detach() for t in tensors])
        return self._joint[1]


def cap_spread(members: torch.Tensor, variance_cap: torch.Tensor) -> torch.Tensor:
    """Shrink members (K, batch, out) toward their mean so that their variance is at most ``variance_cap``.

    Member deviations are scaled by ``sqrt(cap / max(variance, cap))``: by 1
    where the variance (ddof=0) is within the cap, so that those points are
    untouched, and the variance becomes the cap elsewhere. Written with a
    maximum rather than a minimum of ratios, so that no gradient passes
    through ``1 / variance`` at points where the members agree exactly.
    """
    mean = members.mean(dim=0)
    deviations = members - mean
    variance = deviations.square().mean(dim=0)
    cap = variance_cap.clamp_min(torch.finfo(variance_cap.dtype).tiny)
    return mean + deviations * torch.sqrt(cap / torch.maximum(variance, cap))
