from contextlib import contextmanager
from typing import Callable, Iterator, List, Optional, Union

import torch
import torch.nn as nn
from mmengine.device import get_device
from mmpretrain.registry import OPTIM_WRAPPERS

from .sam_optim_wrapper import SAMOptimWrapper


@OPTIM_WRAPPERS.register_module()
class AmpSAMOptimWrapper(SAMOptimWrapper):
    """SAM / ASAM (:class:`SAMOptimWrapper`) with mixed precision.

    Both forward passes, the one recorded by :meth:`optim_context` at
    :math:`w` and its replay at :math:`w + \\epsilon`, run under
    ``torch.autocast`` on the device of :func:`mmengine.device.get_device`
    (``'cuda'``, or ``'cpu'`` on a CPU-only machine), and both backward
    passes are scaled by a ``torch.amp.GradScaler`` for that device (unlike
    mmengine's ``AmpOptimWrapper``, no GPU is required). With the loss scale
    :math:`S` and :math:`\\tilde L` the loss computed under autocast, one
    update is

    .. math::
        g_S = \\nabla_w\\, S \\tilde L(w); \\quad
        \\text{if } g_S \\text{ is finite:} \\quad
        g = g_S / S, \\quad
        \\epsilon = \\rho\\,\\frac{T_w^2\\, g}{\\lVert T_w\\, g \\rVert_2},
        \\quad g'_S = \\nabla_w\\, S \\tilde L(w + \\epsilon), \\quad
        w \\leftarrow \\text{scaler.step}(w, g'_S)

    with :math:`T_w` as in :class:`SAMOptimWrapper`. :math:`\\epsilon` does
    not depend on :math:`S` (it is homogeneous of degree 0 in :math:`g`);
    the first-pass gradient is unscaled before :math:`\\epsilon` is computed
    only so that :math:`\\lVert T_w\\, g \\rVert^2` cannot overflow where
    :math:`\\lVert T_w\\, g_S \\rVert^2` would. ``scaler.step`` unscales
    :math:`g'_S` (first, if ``clip_grad`` is set, which then clips
    :math:`g'`), skips the optimizer step if :math:`g'` is not finite, and
    ``scaler.update`` adapts :math:`S` (dynamic scaling: halved after a
    skipped step, doubled after ``growth_interval`` finite ones).

    Overflow in the first pass: if :math:`g_S` has an inf or NaN, the weights
    are not perturbed and the second forward/backward does not run; the
    non-finite :math:`g_S` goes to ``scaler.step``, which skips the step
    (the weights stay :math:`w`) and backs :math:`S` off. In DDP the
    gradients are all-reduced before this test, so every rank makes the
    same choice.

    The weights are perturbed and restored in place, and autocast keeps its
    low-precision copies of the weights until the outermost autocast region
    ends; so that a call made inside an enclosing autocast region does not
    replay :math:`w`'s copies at :math:`w + \\epsilon` (nor leave those of
    :math:`w + \\epsilon` behind), the autocast weight cache is cleared
    before and after the second pass.

    Use it as ``SAMOptimWrapper``:
    ``optim_wrapper=dict(type='AmpSAMOptimWrapper', rho=0.05,
    dtype='float16', optimizer=...)``; ``tools/train.py --amp`` switches a
    ``SAMOptimWrapper`` config to this class with ``loss_scale='dynamic'``.
    The state dict holds the optimizer's and, under ``'loss_scaler'``, the
    scaler's (as ``AmpOptimWrapper``). Not supported: FSDP's sharded scaler.

    Args:
        optimizer (Optimizer): the base optimizer.
        loss_scale (str | float | dict): ``'dynamic'``: a ``GradScaler``
            with its defaults (initial scale :math:`2^{16}`); a number: a
            static scale (steps with non-finite gradients are skipped, the
            scale stays); a dict: the ``GradScaler`` arguments
            (``init_scale``, ``growth_factor``, ``backoff_factor``,
            ``growth_interval``, ``enabled``). Defaults to ``'dynamic'``.
        dtype (str | torch.dtype, optional): the autocast dtype,
            ``'float16'`` or ``'bfloat16'``; None takes the device's
            autocast default (float16 on CUDA, bfloat16 on CPU). Defaults to
            None.
        **kwargs: the arguments of :class:`SAMOptimWrapper` (``rho``,
            ``adaptive``, ``eta``, ``freeze_bn_stats``,
            ``accumulative_counts``, ``clip_grad``).
    """

    valid_dtypes = ('float16', 'bfloat16')

    def __init__(self,
                 optimizer: torch.optim.Optimizer,
                 loss_scale: Union[str, float, dict] = 'dynamic',
                 dtype: Optional[Union[str, torch.dtype]] = None,
                 **kwargs):
        super().__init__(optimizer, **kwargs)
        self.device_type = get_device()
        # a float: the scale scaler.update() resets to after every step
        self._scale_update_param: Optional[float] = None
        if isinstance(loss_scale, str):
            if loss_scale != 'dynamic':
                raise ValueError('AmpSAMOptimWrapper: loss_scale must be '
                                 f"'dynamic', a number or a dict, got "
                                 f'{loss_scale!r}')
            self.loss_scaler = torch.amp.GradScaler(self.device_type)
        elif isinstance(loss_scale, dict):
            self.loss_scaler = torch.amp.GradScaler(self.device_type,
                                                    **loss_scale)
        elif isinstance(loss_scale, (int, float)) \
                and not isinstance(loss_scale, bool):
            if loss_scale <= 0:
                raise ValueError('AmpSAMOptimWrapper: loss_scale must be > '
                                 f'0, got {loss_scale}')
            self._scale_update_param = float(loss_scale)
            self.loss_scaler = torch.amp.GradScaler(
                self.device_type, init_scale=float(loss_scale))
        else:
            raise TypeError('AmpSAMOptimWrapper: loss_scale must be '
                            f"'dynamic', a number or a dict, got "
                            f'{loss_scale!r}')

        if isinstance(dtype, str):
            if dtype not in self.valid_dtypes:
                raise ValueError(f'AmpSAMOptimWrapper: dtype must be one of '
                                 f'{self.valid_dtypes} or None, got {dtype!r}')
            dtype = getattr(torch, dtype)
        if dtype is None:
            dtype = torch.get_autocast_dtype(self.device_type)
        if dtype not in (torch.float16, torch.bfloat16):
            raise ValueError(f'AmpSAMOptimWrapper: dtype must be one of '
                             f'{self.valid_dtypes} or None, got {dtype!r}')
        self.cast_dtype: torch.dtype = dtype

    def _autocast(self) -> torch.autocast:
        return torch.autocast(self.device_type, dtype=self.cast_dtype)

    # ------------------------------------------------------------ capture
    @contextmanager
    def optim_context(self, model: nn.Module) -> Iterator[None]:
        """Record the ``model(...)`` call (as SAM) and run it in autocast."""
        with super().optim_context(model), self._autocast():
            yield

    # ------------------------------------------------------------- update
    def _check_loss_dtype(self, loss: torch.Tensor) -> None:
        """Any floating loss: under autocast it may be half precision."""

    def backward(self, loss: torch.Tensor, **kwargs) -> None:
        """Back-propagate :math:`S` ``loss``; counts the iteration.

        Args:
            loss (Tensor): the loss of the first pass.
            **kwargs: passed to ``Tensor.backward``.
        """
        self.loss_scaler.scale(loss).backward(**kwargs)
        self._inner_count += 1

    def _backward_perturbed(self, params: List[torch.Tensor],
                            closure: Callable[[], torch.Tensor]) -> None:
        """SAM's second pass if :math:`g_S` is finite; else nothing.

        Args:
            params (list[Tensor]): the parameters whose ``.grad`` holds
                :math:`g_S`.
            closure (callable): returns the loss at the current weights.
        """
        grads = [p.grad for p in params]
        if grads:
            device = grads[0].device
            finite = torch.stack(
                [torch.isfinite(g).all().to(device) for g in grads]).all()
            if not bool(finite):
                return  # .grad keeps g_S: scaler.step() skips, S backs off
            inv_scale = 1.0 / self.loss_scaler.get_scale()
            for grad in grads:
                grad.mul_(inv_scale)  # g = g_S / S
        super()._backward_perturbed(params, closure)

    def _second_backward(self, closure: Callable[[], torch.Tensor]) -> None:
        """Forward in autocast at :math:`w + \\epsilon`, scaled backward.

        Args:
            closure (callable): returns the loss at the current weights.
        """
        torch.clear_autocast_cache()  # no stale low-precision copies of w
        with torch.enable_grad(), self._autocast():
            perturbed_loss = closure()
        self.loss_scaler.scale(perturbed_loss).backward()  # g'_S
        torch.clear_autocast_cache()  # none of w + eps either

    def step(self, **kwargs) -> None:
        """Unscale (and clip), step unless non-finite, update the scale.

        Args:
            **kwargs: passed to ``optimizer.step``.
        """
        if self.clip_grad_kwargs:
            self.loss_scaler.unscale_(self.optimizer)
            self._clip_grad()
        self.loss_scaler.step(self.optimizer, **kwargs)
        self.loss_scaler.update(self._scale_update_param)

    # -------------------------------------------------------------- state
    def state_dict(self) -> dict:
        """The optimizer's state dict plus ``'loss_scaler'``."""
        state_dict = super().state_dict()
        state_dict['loss_scaler'] = self.loss_scaler.state_dict()
        return state_dict

    def load_state_dict(self, state_dict: dict) -> None:
        """Load the scaler's state (if saved) and the optimizer's.

        Args:
            state_dict (dict): from :meth:`state_dict` (or from a wrapper
                without a scaler: then only the optimizer is loaded).
        """
        state_dict = dict(state_dict)
        if 'loss_scaler' in state_dict:
            self.loss_scaler.load_state_dict(state_dict.pop('loss_scaler'))
        super().load_state_dict(state_dict)

    def __repr__(self) -> str:
        return (super().__repr__() + f'dtype: {self.cast_dtype}, loss_scale: '
                f'{self.loss_scaler.get_scale()}\n')
