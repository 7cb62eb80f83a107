"""Minimax dynamics: simultaneous and alternating gradient descent-ascent, and n_dis ascent steps per descent step.

Lecture notes 001 (Ryu, SNU ch. 5, "Minimax optimization algorithm"), with step sizes alpha (descent, theta) and
beta (ascent, phi):

- simultaneous:  phi' = phi + beta grad_phi L(theta, phi),   theta' = theta - alpha grad_theta L(theta, phi)
- alternating:   phi' = phi + beta grad_phi L(theta, phi),   theta' = theta - alpha grad_theta L(theta, phi')
- multi-ascent single-descent: n_dis ascent steps on phi with theta fixed, then one descent step on theta at the
  last phi; n_dis = 1 is the alternating method.

(The notes' PyTorch listing of multi-ascent puts the generator step inside the n_dis loop; the formulas above it,
used here, put it after.)

Two games, both with scalar theta and phi so a trajectory is a curve in the (theta, phi) plane:

1. The bilinear game ``L(theta, phi) = theta * phi`` with its saddle at (0, 0). Every method is a linear map
   z' = M z of z = (theta, phi), so the behaviour is closed-form (:func:`bilinear_update_matrix`):
   simultaneous M = [[1, -alpha], [beta, 1]] scales |z| by exactly sqrt(1 + eta^2) per step when
   alpha = beta = eta (it spirals out); alternating M = [[1 - alpha beta, -alpha], [beta, 1]] has det 1 and
   conserves V(theta, phi) = beta theta^2 + alpha beta theta phi + alpha phi^2, a positive-definite form (so the
   iterates stay on an ellipse, bounded) while alpha beta < 4; n_dis ascent steps are the alternating map with
   beta replaced by n_dis * beta, bounded while n_dis alpha beta < 4 and spiralling out beyond.

2. A 1-D Gaussian GAN with the notes' cross-entropy loss (001 "Minimax training"): data x ~ N(0, s^2),
   generator G_theta(z) = theta + s z with z ~ N(0, 1), discriminator D_phi(x) = sigmoid(phi x):

       L(theta, phi) = E_{x~N(0,s^2)} log sigmoid(phi x) + E_{z~N(0,1)} log(1 - sigmoid(phi (theta + s z))).

   Its equilibrium is (theta, phi) = (0, 0) (generator = data, D = 1/2). The gradients, with
   d/dt log sigmoid(t) = sigmoid(-t), are exact expectations over a Gaussian, computed by Gauss-Hermite
   quadrature (smooth integrands: :data:`QUAD_NODES` nodes are exact to ~1e-12):

       dL/dtheta = -phi E_z sigmoid(phi (theta + s z))
       dL/dphi   =  E_x x sigmoid(-phi x) - E_z (theta + s z) sigmoid(phi (theta + s z)).

   Taylor-expanding log sigmoid(t) = -log 2 + t/2 - t^2/8 + O(t^4) around the equilibrium gives
   L = -2 log 2 - theta phi / 2 - s^2 phi^2 / 4 + (higher order): the bilinear game (rescaled, sign flipped) plus a
   term concave in phi whose strength is the data variance. With s = 0 this is the "Dirac GAN" of Mescheder et
   al. (2018), where simultaneous GDA spirals out and alternating GDA circles; with noise (s > 0) the -s^2 phi^2/4
   term damps the rotation and small steps spiral in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

Method = Literal["simultaneous", "alternating", "multi_ascent"]
METHODS: tuple[str, ...] = ("simultaneous", "alternating", "multi_ascent")
Grad = Callable[[float, float], tuple[float, float]]

QUAD_NODES = 64  # Gauss-Hermite nodes for the Gaussian GAN's expectations (error < 1e-12 for |phi|, |theta| <~ 10)


@dataclass(frozen=True)
class Trajectory:
    """Iterates of one run. ``theta[k], phi[k]`` after k outer steps (length steps + 1, index 0 = start);
    ``path_theta, path_phi``: every single move in order, for drawing the zig-zag (alternating and multi-ascent:
    n_dis ascent moves then one descent move per step; simultaneous: one diagonal move per step)."""

    theta: np.ndarray
    phi: np.ndarray
    path_theta: np.ndarray
    path_phi: np.ndarray

    @property
    def norm(self) -> np.ndarray:
        """|(theta_k, phi_k)| per outer step, shape (steps + 1,)."""
        return np.hypot(self.theta, self.phi)


def _check(method: str, lr_theta: float, lr_phi: float, n_dis: int, steps: int) -> None:
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}.")
    for name, v in (("lr_theta", lr_theta), ("lr_phi", lr_phi)):
        if not (np.isfinite(v) and v > 0):
            raise ValueError(f"{name} must be a positive finite step size; got {v!r}.")
    if int(n_dis) != n_dis or n_dis < 1:
        raise ValueError(f"n_dis must be a whole number >= 1; got {n_dis!r}.")
    if int(steps) != steps or steps < 0:
        raise ValueError(f"steps must be a whole number >= 0; got {steps!r}.")


def gda(grad: Grad, theta0: float, phi0: float, method: Method = "simultaneous", lr_theta: float = 0.1,
        lr_phi: float = 0.1, n_dis: int = 1, steps: int = 100) -> Trajectory:
    """Run gradient descent (theta) - ascent (phi) on a game given by ``grad(theta, phi) = (dL/dtheta, dL/dphi)``.

    ``method`` is one of :data:`METHODS` (formulas in the module docstring, notes 001); ``n_dis`` is used by
    ``"multi_ascent"`` only (and ``"multi_ascent"`` with ``n_dis = 1`` equals ``"alternating"``). Iterates that
    overflow are kept as inf/nan; the caller decides how to show a blow-up.

    >>> t = gda(bilinear_grad, 1.0, 0.0, "simultaneous", 0.1, 0.1, steps=10)
    >>> bool(np.isclose(t.norm[-1], (1 + 0.1 ** 2) ** 5))
    True
    """
    _check(method, lr_theta, lr_phi, n_dis, steps)
    theta, phi = float(theta0), float(phi0)
    thetas, phis = [theta], [phi]
    path_t, path_p = [theta], [phi]
    inner = int(n_dis) if method == "multi_ascent" else 1
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(int(steps)):
            if method == "simultaneous":
                g_t, g_p = grad(theta, phi)
                theta, phi = theta - lr_theta * g_t, phi + lr_phi * g_p  # one diagonal move
            else:
                for _ in range(inner):
                    phi = phi + lr_phi * grad(theta, phi)[1]
                    path_t.append(theta), path_p.append(phi)
                theta = theta - lr_theta * grad(theta, phi)[0]
            path_t.append(theta), path_p.append(phi)
            thetas.append(theta), phis.append(phi)
    return Trajectory(np.array(thetas), np.array(phis), np.array(path_t), np.array(path_p))


# --- the bilinear game -------------------------------------------------------------------------------------------


def bilinear_value(theta: np.ndarray | float, phi: np.ndarray | float) -> np.ndarray | float:
    """L(theta, phi) = theta * phi (notes 001)."""
    return theta * phi


def bilinear_grad(theta: float, phi: float) -> tuple[float, float]:
    """(dL/dtheta, dL/dphi) = (phi, theta) for L = theta * phi."""
    return phi, theta


def bilinear_update_matrix(method: Method, lr_theta: float, lr_phi: float, n_dis: int = 1) -> np.ndarray:
    """The 2x2 matrix M with (theta', phi') = M (theta, phi) for one outer step on L = theta phi.

    simultaneous [[1, -a], [b, 1]]; alternating [[1 - a b, -a], [b, 1]]; multi_ascent the alternating matrix with
    b -> n_dis b (a = lr_theta, b = lr_phi).
    """
    _check(method, lr_theta, lr_phi, n_dis, 0)
    a, b = lr_theta, lr_phi
    if method == "simultaneous":
        return np.array([[1.0, -a], [b, 1.0]])
    if method == "multi_ascent":
        b = n_dis * b
    return np.array([[1.0 - a * b, -a], [b, 1.0]])


def bilinear_spectral_radius(method: Method, lr_theta: float, lr_phi: float, n_dis: int = 1) -> float:
    """Largest |eigenvalue| of :func:`bilinear_update_matrix`: > 1 spirals out, = 1 circles (bounded), < 1 in.

    Simultaneous: sqrt(1 + a b) > 1 always. Alternating / multi-ascent: 1 while n_dis a b <= 4 (complex pair on
    the unit circle; at exactly 4 a double eigenvalue -1 whose iterates grow linearly), then > 1.
    """
    return float(np.max(np.abs(np.linalg.eigvals(bilinear_update_matrix(method, lr_theta, lr_phi, n_dis)))))


def alternating_invariant(theta: np.ndarray | float, phi: np.ndarray | float, lr_theta: float, lr_phi: float,
                          n_dis: int = 1) -> np.ndarray | float:
    """V = b theta^2 + a b theta phi + a phi^2 with b = n_dis * lr_phi, a = lr_theta: conserved exactly by the
    alternating (and multi-ascent) update on L = theta phi, since M^T Q M = Q for Q = [[b, ab/2], [ab/2, a]].
    Q is positive definite iff a b < 4, so then every iterate stays on one bounded ellipse."""
    a, b = lr_theta, n_dis * lr_phi
    return b * theta**2 + a * b * theta * phi + a * phi**2


# --- the 1-D Gaussian GAN ----------------------------------------------------------------------------------------


def _sigmoid(t: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * t))  # overflow-free logistic


def _log_sigmoid(t: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -t)


def _hermite(n: int = QUAD_NODES) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights with sum_i w_i f(x_i) = E_{x~N(0,1)} f(x) (probabilists' Gauss-Hermite)."""
    x, w = np.polynomial.hermite_e.hermegauss(n)
    return x, w / np.sqrt(2.0 * np.pi)


_NODES, _WEIGHTS = _hermite()


def gaussian_gan_value(theta: float, phi: float, noise_std: float = 1.0) -> float:
    """L(theta, phi) = E_{x~N(0,s^2)} log sigmoid(phi x) + E_z log(1 - sigmoid(phi (theta + s z))), s = noise_std.

    The notes' GAN value (001) for data N(0, s^2), generator theta + s z and discriminator sigmoid(phi x).
    At the equilibrium (0, 0) it is -2 log 2.
    """
    x = noise_std * _NODES
    y = theta + noise_std * _NODES
    return float(_WEIGHTS @ (_log_sigmoid(phi * x) + _log_sigmoid(-phi * y)))


def gaussian_gan_grad_fn(noise_std: float = 1.0) -> Grad:
    """``grad(theta, phi) = (dL/dtheta, dL/dphi)`` of :func:`gaussian_gan_value` (formulas in the module docstring).

    ``noise_std = 0`` is the Dirac GAN (data at 0, generator at theta).
    """
    if not (np.isfinite(noise_std) and noise_std >= 0):
        raise ValueError(f"noise_std must be a finite number >= 0; got {noise_std!r}.")
    x = noise_std * _NODES

    def grad(theta: float, phi: float) -> tuple[float, float]:
        y = theta + noise_std * _NODES
        s_fake = _sigmoid(phi * y)
        d_theta = -phi * float(_WEIGHTS @ s_fake)
        d_phi = float(_WEIGHTS @ (x * _sigmoid(-phi * x))) - float(_WEIGHTS @ (y * s_fake))
        return d_theta, d_phi

    return grad


def gaussian_gan_linearisation(noise_std: float = 1.0) -> np.ndarray:
    """Hessian of L at the equilibrium (0, 0), from L ~ -2 log 2 - theta phi / 2 - s^2 phi^2 / 4:
    [[d2L/dtheta2, d2L/dtheta dphi], [., d2L/dphi2]] = [[0, -1/2], [-1/2, -s^2/2]]."""
    return np.array([[0.0, -0.5], [-0.5, -0.5 * noise_std**2]])


GAMES: dict[str, str] = {
    "bilinear": "bilinear game L = θφ",
    "gaussian_gan": "1-D Gaussian GAN, D(x) = σ(φx)",
}


def run_game(game: str, theta0: float, phi0: float, method: Method, lr_theta: float, lr_phi: float,
             n_dis: int, steps: int, noise_std: float = 1.0) -> Trajectory:
    """:func:`gda` on one of :data:`GAMES` (``noise_std`` is the Gaussian GAN's s)."""
    if game == "bilinear":
        grad = bilinear_grad
    elif game == "gaussian_gan":
        grad = gaussian_gan_grad_fn(noise_std)
    else:
        raise ValueError(f"game must be one of {', '.join(GAMES)}; got {game!r}.")
    return gda(grad, theta0, phi0, method, lr_theta, lr_phi, n_dis, steps)


def method_label(method: str, n_dis: int) -> str:
    """Legend name of a method."""
    return {"simultaneous": "simultaneous GDA", "alternating": "alternating GDA",
            "multi_ascent": f"{n_dis} ascent steps per descent step"}[method]


def compare_methods(game: str, lr: float, n_dis: int, steps: int, noise_std: float = 1.0, theta0: float = 1.0,
                    phi0: float = 0.5) -> dict[str, Trajectory]:
    """The three methods of notes 001 from the same start with alpha = beta = ``lr`` (the Theory tab's panel)."""
    return {m: run_game(game, theta0, phi0, m, lr, lr, n_dis, steps, noise_std) for m in METHODS}
