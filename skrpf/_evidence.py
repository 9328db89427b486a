"""Hyper-parameters from the marginal likelihood of the prior networks' kernel.

A Gaussian process fits its kernel to the data by maximising the marginal
likelihood ``log N(y | 0, K + sigma^2 I)``. The randomized prior ensemble
has a kernel too: the covariance of its prior functions,
``k(x, x') = beta^2 E[p(x) p(x')]``, over the random initialisation of the
prior network ``p``. It is estimated here from ``KERNEL_DRAWS`` prior
networks drawn from the prior factory, evaluated on the training inputs:
with their outputs ``G`` of shape (S, n), ``K0 = G^T G / S``.

For a candidate input length scale ``l`` (the networks see ``x / l``) and a
candidate architecture, the log marginal likelihood of the standardised
targets under ``K = beta^2 K0 + sigma^2 I`` is maximised over the prior
scale ``beta`` (in closed form, for a fixed ratio ``r = sigma^2 / beta^2``)
and over ``r`` (on a grid, with a weak prior toward less noise: see
``NOISE_PRIOR_PER_DECADE``). It is the GP's own criterion, with the kernel
that the prior networks define: an honest choice from the training data
alone, and no network is trained to make it. Linear algebra goes through
the eigen-decomposition of ``K0``, at a cost of ``O(n^2 S + n^3)``.

In the linear-Gaussian case, the members trained with target noise
``sigma`` and these priors are exact posterior draws (Osband et al., 2018,
Lemma 3); for networks they are approximate ones.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

from . import _validation as checks
from ._ensemble import stack_modules
from .networks import ACTIVATIONS, MLP

#: Prior networks drawn to estimate the kernel. The kernel's Monte Carlo
#: error falls as 1/sqrt(S); 256 draws of a 2x50 MLP cost about a
#: millisecond per length scale on tens of rows.
KERNEL_DRAWS = 256

#: Input length scales tried, in standardised input units (the networks see
#: ``x / length_scale``). A default MLP's prior functions vary on a scale of
#: about one standardised unit; the grid spans short wiggles to near-linear.
LENGTH_SCALES = (0.1, 0.17, 0.3, 0.5, 0.8, 1.3, 2.2)

#: Noise-to-signal variance ratios ``sigma^2 / beta^2`` tried, 5 per decade,
#: down to a noise standard deviation of 1e-6 of the signal's: the output
#: layer is solved in float64, so the members reproduce noise-free targets
#: far more closely than a float32 fit would.
NOISE_RATIOS = np.logspace(-12.0, 1.0, 66)

#: The range of the fitted prior scale, in standard deviations of y. On a
#: few hundred rows of a nearly linear function the likelihood keeps rising
#: toward a near-linear kernel of huge amplitude (beta above 1,000 on UCI
#: energy's training rows), which the networks, asked to cancel priors a
#: thousand times larger than the data, cannot train to; priors more than
#: ten times the spread of the data are no belief anyone holds.
PRIOR_SCALE_RANGE = (0.1, 10.0)

#: A weak prior toward less noise, in nats per decade of the noise ratio:
#: ``log p(r) = -NOISE_PRIOR_PER_DECADE * log10(r)``. Where the data cannot
#: tell noise from signal (20 noise-free points in 6-D fit a short length
#: scale and "all noise" within a nat or two), it chooses the signal; with
#: real noise the likelihood is sharp and the prior moves the estimate by
#: well under 1% at n = 200.
NOISE_PRIOR_PER_DECADE = 0.5


@dataclass
class EvidenceChoice:
    """The hyper-parameters that maximise the log marginal likelihood.

    Attributes
    ----------
    candidate : int
        Index of the chosen architecture among the candidates.
    length_scale : float
        Input length scale, in standardised input units.
    prior_scale : float
        The prior scale ``beta``.
    noise_variance : float
        ``sigma^2``, in the standardised units of y.
    log_marginal_likelihood : float
        Its value, in nats, summed over rows and targets.
    """

    candidate: int
    length_scale: float
    prior_scale: float
    noise_variance: float
    log_marginal_likelihood: float


def prior_kernel_features(factory, X: np.ndarray, n_draws: int, seed: int):
    """``n_draws`` prior networks of one output each, as one frozen float64 function of (n, d) inputs.

    Returns a callable mapping (n, d) inputs to (n_draws, n, 1) outputs.
    For :class:`~skrpf.MLP` the weights are drawn directly in stacked form,
    from the distributions MLP initialises with: building a thousand
    ``nn.Linear`` modules would cost more than the rest of a small fit.
    """
    if type(factory) is MLP:
        widths = (X.shape[1], *map(int, factory.hidden_layer_sizes), 1)
        weights = _mlp_weights(widths, factory.first_layer_init, n_draws, seed)
        return _mlp_forward(weights, ACTIVATIONS[factory.activation](), n_draws)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        probe = torch.as_tensor(X[:1], dtype=torch.float32)
        networks = checks.build_networks("prior", factory, n_draws, X.shape[1], 1, probe)
        return stack_modules(networks, trainable=False).double().eval()


# The same draws serve every candidate activation of a fit, and every fit of
# a Bayesian-optimisation loop (the seed and widths stay the same as rows
# arrive): drawing them cost about a tenth of a small fit. Two entries of
# 256 draws of a 2x50 MLP hold about 11 MB.
@functools.lru_cache(maxsize=2)
def _mlp_weights(widths: tuple, first_layer_init: str, n_draws: int, seed: int) -> tuple:
    """Stacked ``(weight, bias)`` per layer of ``n_draws`` MLPs, drawn as :class:`~skrpf.MLP` initialises one.

    Glorot-uniform weights (the first layer's LeCun-uniform with
    ``first_layer_init="lecun"``), biases ``U(+-1/sqrt(fan_in))``. Read-only:
    the tensors are shared by every caller with the same arguments.
    """
    generator = torch.Generator().manual_seed(seed)
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        if i == 0 and first_layer_init == "lecun":
            weight_bound = np.sqrt(3.0 / fan_in)
        else:
            weight_bound = np.sqrt(6.0 / (fan_in + fan_out))
        bias_bound = 1.0 / np.sqrt(fan_in)
        weight = 2 * torch.rand((n_draws, fan_in, fan_out), generator=generator, dtype=torch.float64) - 1
        bias = 2 * torch.rand((n_draws, 1, fan_out), generator=generator, dtype=torch.float64) - 1
        layers.append((weight * weight_bound, bias * bias_bound))
    return tuple(layers)


def _mlp_forward(layers: tuple, activation: torch.nn.Module, n_draws: int):
    """The stacked MLPs of ``layers`` with ``activation`` between products, as a function of (n, d) inputs."""

    def forward(x: torch.Tensor) -> torch.Tensor:
        h = x.expand(n_draws, *x.shape)
        for i, (weight, bias) in enumerate(layers):
            h = torch.baddbmm(bias, h, weight)
            if i < len(layers) - 1:
                h = activation(h)
        return h

    return forward


def log_marginal_likelihoods(G: np.ndarray, Y: np.ndarray, ratios: np.ndarray, prior_scale=None):
    """Log marginal likelihood of Y under ``beta^2 G^T G / S + r beta^2 I`` for each ratio r.

    Parameters
    ----------
    G : ndarray of shape (S, n)
        Prior draws evaluated on the training inputs.
    Y : ndarray of shape (n, t)
        Standardised targets, one independent GP per column.
    ratios : ndarray of shape (m,)
        The noise-to-signal ratios ``r = sigma^2 / beta^2``.
    prior_scale : float or None
        A fixed ``beta``; None profiles it out: ``beta^2`` is set to its
        maximum-likelihood value for each ratio, within ``PRIOR_SCALE_RANGE``.

    Returns
    -------
    log_likelihood : ndarray of shape (m,)
    prior_scale : ndarray of shape (m,)
        The ``beta`` behind each value.
    """
    n_draws, n = G.shape
    n_targets = Y.shape[1]
    # The eigen-decomposition of the n x n kernel: on the small data this
    # runs on, far cheaper than an SVD of the (n, S) draws.
    w, U = np.linalg.eigh(G.T @ G / n_draws)
    w = np.maximum(w, 0.0)  # rounding can leave the zero eigenvalues slightly negative
    Z = U.T @ Y  # (n, t)
    r = ratios[:, None]
    quadratic = ((Z**2).sum(axis=1) / (w + r)).sum(axis=1)
    log_det = np.log(w + r).sum(axis=1)
    size = n * n_targets
    if prior_scale is None:
        # The beta^2 that maximises the likelihood, within the plausible range;
        # for a fixed r the likelihood is unimodal in beta^2, so clipping gives
        # the constrained maximum.
        amplitude = np.clip(quadratic / size, PRIOR_SCALE_RANGE[0] ** 2, PRIOR_SCALE_RANGE[1] ** 2)
    else:
        amplitude = np.full_like(quadratic, float(prior_scale) ** 2)
    log_likelihood = (
        -0.5 * size * np.log(2 * np.pi * amplitude) - 0.5 * n_targets * log_det - 0.5 * quadratic / amplitude
    )
    return log_likelihood, np.sqrt(amplitude)


#: Rows of scaled inputs the prior draws evaluate in one pass: at 256 draws
#: of 2x50 MLPs, 2,048 rows hold about 200 MB of hidden features.
_ROWS_PER_PASS = 2048


def _features_per_scale(draws, X: np.ndarray, length_scales) -> list[np.ndarray]:
    """The draws' outputs on ``X / l``, an (S, n) array for each length scale ``l``.

    The scaled copies of X go through the draws together, in passes of up
    to ``_ROWS_PER_PASS`` rows: batched products of tens of rows are
    dominated by their per-product overhead (on 20 rows, float64 products
    ran at half the rate of 140 rows).
    """
    n = X.shape[0]
    per_pass = max(1, _ROWS_PER_PASS // max(n, 1))
    features: list[np.ndarray] = []
    for start in range(0, len(length_scales), per_pass):
        scales = length_scales[start : start + per_pass]
        scaled = np.concatenate([X / length_scale for length_scale in scales])
        with torch.no_grad():
            G = draws(torch.as_tensor(scaled, dtype=torch.float64))[:, :, 0].numpy()
        features.extend(G[:, i * n : (i + 1) * n] for i in range(len(scales)))
    return features


def choose_by_evidence(
    factories,
    X: np.ndarray,
    Y: np.ndarray,
    *,
    length_scales,
    prior_scale,
    seed: int,
    n_draws: int = KERNEL_DRAWS,
) -> EvidenceChoice:
    """Maximise the log marginal likelihood over architectures, length scales, ``beta`` and ``r``.

    Parameters
    ----------
    factories : list of callable
        Candidate prior factories, each ``factory(n_features_in, n_outputs)``.
    X : ndarray of shape (n, d)
        Standardised training inputs.
    Y : ndarray of shape (n, t)
        Standardised training targets.
    length_scales : sequence of float
        Candidate length scales (one value fixes it).
    prior_scale : float or None
        A fixed ``beta``, or None to fit it.
    seed : int
        Seeds the prior draws, so the choice is reproducible.
    n_draws : int, default=KERNEL_DRAWS
        Prior networks drawn per candidate architecture.

    Returns
    -------
    EvidenceChoice
    """
    best: EvidenceChoice | None = None
    best_score = -np.inf
    for index, factory in enumerate(factories):
        draws = prior_kernel_features(factory, X, n_draws, seed)
        for length_scale, G in zip(length_scales, _features_per_scale(draws, X, length_scales), strict=True):
            if not np.isfinite(G).all():
                continue
            values, betas = log_marginal_likelihoods(G, Y, NOISE_RATIOS, prior_scale)
            i = int(np.argmax(values - NOISE_PRIOR_PER_DECADE * np.log10(NOISE_RATIOS)))
            row = EvidenceChoice(
                candidate=index,
                length_scale=float(length_scale),
                prior_scale=float(betas[i]),
                noise_variance=float(NOISE_RATIOS[i] * betas[i] ** 2),
                log_marginal_likelihood=float(values[i]),
            )
            score = row.log_marginal_likelihood - NOISE_PRIOR_PER_DECADE * np.log10(NOISE_RATIOS[i])
            if best is None or score > best_score:
                best, best_score = row, score
    if best is None:
        raise FloatingPointError(
            "The prior networks' outputs are not finite on the training inputs at every "
            "length scale tried; check X for extreme values or pass a fixed length_scale."
        )
    return best
