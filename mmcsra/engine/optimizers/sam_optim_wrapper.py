from contextlib import contextmanager
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.model import is_model_wrapper
from mmengine.optim import OptimWrapper
from mmpretrain.registry import OPTIM_WRAPPERS
from torch.nn.modules.batchnorm import _BatchNorm

# Lower bound of the gradient norm in the perturbation (avoids 0 / 0 when
# the gradient vanishes; the perturbation is then 0).
_NORM_EPS = 1e-12


@OPTIM_WRAPPERS.register_module()
class SAMOptimWrapper(OptimWrapper):
    """Sharpness-Aware Minimization as an mmengine optimizer wrapper.

    SAM: Foret, Kleiner, Mobahi, Neyshabur, "Sharpness-Aware Minimization
    for Efficiently Improving Generalization", ICLR 2021
    (https://arxiv.org/abs/2010.01412), Eq. (2); ASAM: Kwon, Kim, Park, Choi,
    "ASAM: Adaptive Sharpness-Aware Minimization for Scale-Invariant
    Learning of Deep Neural Networks", ICML 2021
    (https://arxiv.org/abs/2102.11600), Sec. 3. One update is

    .. math::
        g = \\nabla L(w), \\quad
        \\epsilon = \\rho\\,\\frac{T_w^2\\, g}{\\lVert T_w\\, g \\rVert_2},
        \\quad g' = \\nabla L(w + \\epsilon), \\quad
        w \\leftarrow \\text{optimizer.step}(w, g')

    with :math:`T_w = I` (SAM) or :math:`T_w = \\text{diag}(|w| + \\eta)`
    (ASAM, ``adaptive=True``). The norm is taken over all parameters of the
    optimizer that received a gradient. The base optimizer (SGD, AdamW, ...)
    and its weight decay, momentum and ``clip_grad`` see :math:`g'`.

    How the second pass gets its loss. ``BaseModel.train_step`` (and
    ``MMDistributedDataParallel.train_step``) does::

        with optim_wrapper.optim_context(model):
            data = model.data_preprocessor(data, True)
            losses = model._run_forward(data, mode='loss')  # model(**data)
        loss, log_vars = model.parse_losses(losses)
        optim_wrapper.update_params(loss)

    :meth:`optim_context` registers a forward pre-hook on ``model`` for the
    duration of the ``with`` block and so records the arguments of the one
    ``model(...)`` call made inside it (the pre-processed, batch-augmented
    inputs and data samples). :meth:`update_params` then back-propagates
    ``loss``, moves the weights to :math:`w + \\epsilon`, calls
    ``model(*args, **kwargs)`` again on the same batch, reduces it with
    ``parse_losses`` and back-propagates, restores :math:`w` and steps. So a
    standard ``ImageClassifier`` trained by the Runner needs nothing but
    ``optim_wrapper=dict(type='SAMOptimWrapper', rho=0.05, optimizer=...)``
    in its config: no model wrapper, hook or Runner change (the class is in
    MMPretrain's ``OPTIM_WRAPPERS``, found by mmengine's
    ``build_optim_wrapper`` under ``default_scope='mmpretrain'``, which
    MMPretrain configs set; without a scope write
    ``type='mmpretrain.SAMOptimWrapper'``). The logged loss
    is the first pass's :math:`L(w)`. A custom loop can instead pass
    ``closure`` (a function returning the loss at the current weights) to
    :meth:`update_params`.

    Second-pass BatchNorm: with ``freeze_bn_stats=True`` (default) the BN
    layers normalise with the batch statistics as usual but do not update
    their running statistics (nor ``num_batches_tracked``) in the second
    forward, so each step updates them once, at :math:`w`, as without SAM.
    Random layers (dropout, drop-path) draw new masks in the second pass.

    Limitations (clear errors): gradient accumulation (only
    ``accumulative_counts=1``); this wrapper is fp32, it never enables
    autocast or loss scaling, and a float16/bfloat16 loss raises. For mixed
    precision use :class:`AmpSAMOptimWrapper` (``tools/train.py --amp``
    switches a ``SAMOptimWrapper`` config to it; mmengine's
    ``AmpOptimWrapper`` would drop SAM). In DDP both backward passes
    all-reduce the gradients, so :math:`\\epsilon` is computed from the
    global batch gradient.

    Args:
        optimizer (Optimizer): the base optimizer (built from
            ``optimizer=dict(...)`` by mmengine's constructor).
        rho (float): neighbourhood radius ρ. Defaults to 0.05 (SAM paper;
            also the AAM paper's released configs). ASAM uses larger values
            (e.g. 0.5 to 2.0).
        adaptive (bool): ASAM if True. Defaults to False.
        eta (float): η of ASAM's :math:`T_w = |w| + \\eta`; ignored when
            ``adaptive=False``. Defaults to 0.0 (pure :math:`|w|` scaling,
            as in the common PyTorch SAM implementation; the ASAM paper
            uses 0.01).
        freeze_bn_stats (bool): keep BatchNorm running statistics unchanged
            in the second pass. Defaults to True.
        accumulative_counts (int): must be 1.
        clip_grad (dict, optional): as in :class:`OptimWrapper`; applied to
            :math:`g'` before the step.
    """

    def __init__(self,
                 optimizer: torch.optim.Optimizer,
                 rho: float = 0.05,
                 adaptive: bool = False,
                 eta: float = 0.0,
                 freeze_bn_stats: bool = True,
                 accumulative_counts: int = 1,
                 clip_grad: Optional[dict] = None):
        if accumulative_counts != 1:
            raise ValueError('SAMOptimWrapper supports accumulative_counts=1 '
                             f'only, got {accumulative_counts}')
        if rho <= 0:
            raise ValueError(f'SAMOptimWrapper: rho must be > 0, got {rho}')
        if eta < 0:
            raise ValueError(f'SAMOptimWrapper: eta must be >= 0, got {eta}')
        super().__init__(optimizer, accumulative_counts=1, clip_grad=clip_grad)
        self.rho = rho
        self.adaptive = adaptive
        self.eta = eta
        self.freeze_bn_stats = freeze_bn_stats
        self._closure: Optional[Callable[[], torch.Tensor]] = None

    # ------------------------------------------------------------ capture
    @contextmanager
    def optim_context(self, model: nn.Module) -> Iterator[None]:
        """Record the ``model(...)`` call made in the block (see above)."""
        calls: List[Tuple[tuple, dict]] = []

        def record(module, args, kwargs):
            calls.append((args, kwargs))

        self._closure = None
        handle = model.register_forward_pre_hook(record, with_kwargs=True)
        try:
            with super().optim_context(model):
                yield
        finally:
            handle.remove()
        if len(calls) > 1:
            raise RuntimeError(
                f'SAMOptimWrapper: the model was called {len(calls)} times '
                'inside optim_context; the second SAM pass can only replay a '
                'single forward call.')
        if calls:
            args, kwargs = calls[0]
            self._closure = self._replay_closure(model, args, kwargs)

    def _replay_closure(self, model: nn.Module, args: tuple,
                        kwargs: dict) -> Callable[[], torch.Tensor]:
        """A function computing the parsed loss of the recorded call."""
        base_model = model.module if is_model_wrapper(model) else model
        if not hasattr(base_model, 'parse_losses'):
            raise TypeError(
                'SAMOptimWrapper: the model has no parse_losses(); use an '
                'mmengine BaseModel or pass closure= to update_params.')

        def closure() -> torch.Tensor:
            with self._frozen_bn_stats(model):
                losses = model(*args, **kwargs)
            loss, _ = base_model.parse_losses(losses)
            return loss

        return closure

    @contextmanager
    def _frozen_bn_stats(self, model: nn.Module) -> Iterator[None]:
        """Momentum 0 (running stats unchanged) for every training BN."""
        saved = []
        if self.freeze_bn_stats:
            for module in model.modules():
                if isinstance(module, _BatchNorm) and module.training \
                        and module.track_running_stats:
                    count = module.num_batches_tracked
                    saved.append((module, module.momentum,
                                  None if count is None else count.clone()))
                    module.momentum = 0.0
        try:
            yield
        finally:
            for module, momentum, count in saved:
                module.momentum = momentum
                if count is not None:
                    module.num_batches_tracked.copy_(count)

    # ------------------------------------------------------------- update
    def update_params(  # type: ignore[override]
            self,
            loss: torch.Tensor,
            step_kwargs: Optional[Dict] = None,
            zero_kwargs: Optional[Dict] = None,
            closure: Optional[Callable[[], torch.Tensor]] = None) -> None:
        """One SAM step: two forward/backward passes, one optimizer step.

        Args:
            loss (Tensor): the loss at the current weights w, whose graph
                is still alive (from ``BaseModel.train_step``).
            step_kwargs (dict, optional): passed to ``optimizer.step``.
            zero_kwargs (dict, optional): passed to ``optimizer.zero_grad``.
            closure (callable, optional): returns the loss at the current
                weights (called once, at :math:`w + \\epsilon`). Defaults to
                replaying the call recorded by :meth:`optim_context`.
        """
        closure = closure if closure is not None else self._closure
        self._closure = None
        if closure is None:
            raise RuntimeError(
                'SAMOptimWrapper needs the loss at the perturbed weights: '
                'run the model forward inside optim_wrapper.optim_context('
                'model) (as BaseModel.train_step does) or pass closure=.')
        self._check_loss_dtype(loss)
        step_kwargs = step_kwargs or {}
        zero_kwargs = zero_kwargs or {}

        self.backward(loss)  # g = dL/dw, counts the iteration
        params = [
            p for group in self.optimizer.param_groups for p in group['params']
            if p.grad is not None
        ]
        self._backward_perturbed(params, closure)  # .grad = g', w restored
        self.step(**step_kwargs)  # clip_grad, then the base optimizer on g'
        self.zero_grad(**zero_kwargs)

    def _check_loss_dtype(self, loss: torch.Tensor) -> None:
        """Refuse a half-precision loss: this wrapper has no loss scaling."""
        if loss.dtype in (torch.float16, torch.bfloat16):
            raise TypeError('SAMOptimWrapper runs in fp32 only (no AMP; use '
                            f'AmpSAMOptimWrapper); got a {loss.dtype} loss.')

    def _backward_perturbed(self, params: List[torch.Tensor],
                            closure: Callable[[], torch.Tensor]) -> None:
        """Replace the gradients g of ``params`` by g' = ∇L(w + ε).

        Moves ``params`` to w + ε (:meth:`_perturb`, from their ``.grad``),
        zeroes the gradients, back-propagates the loss of ``closure`` there
        (:meth:`_second_backward`) and copies w back, exactly.

        Args:
            params (list[Tensor]): the parameters that received a gradient
                in the first pass.
            closure (callable): returns the loss at the current weights.
        """
        originals = self._perturb(params)  # w <- w + eps
        self.optimizer.zero_grad()
        self._second_backward(closure)  # g' = dL/dw at w + eps
        with torch.no_grad():
            for param, original in zip(params, originals):
                param.copy_(original)  # back to w, exactly

    def _second_backward(self, closure: Callable[[], torch.Tensor]) -> None:
        """Forward (``closure``) and backward at the perturbed weights.

        Args:
            closure (callable): returns the loss at the current weights.
        """
        with torch.enable_grad():
            perturbed_loss = closure()
        perturbed_loss.backward()

    @torch.no_grad()
    def _perturb(self, params: List[torch.Tensor]) -> List[torch.Tensor]:
        """Add ε = ρ T² g / ‖T g‖ to ``params`` in place.

        Returns:
            list[Tensor]: copies of the unperturbed ``params`` (w).
        """
        originals = [p.detach().clone() for p in params]
        if not params:
            return originals
        grads = [p.grad for p in params]
        if self.adaptive:
            scales = [p.abs() + self.eta for p in params]  # T_w
            scaled = [t * g for t, g in zip(scales, grads)]  # T g
        else:
            scales = None
            scaled = grads
        norm = torch.stack([tg.norm(p=2) for tg in scaled]).norm(p=2)
        factor = self.rho / norm.clamp(min=_NORM_EPS)  # rho / ||T g||
        for i, param in enumerate(params):
            direction = scaled[i] if scales is None \
                else scales[i] * scaled[i]  # T^2 g
            param.add_(direction * factor)
        return originals

    def __repr__(self) -> str:
        return (super().__repr__() + f'rho: {self.rho}, adaptive: '
                f'{self.adaptive}, eta: {self.eta}\n')
