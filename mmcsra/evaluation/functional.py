"""Multi-label evaluation as pure tensor functions.

Everything here takes dense ``(N, C)`` tensors (N samples, C classes) and
returns tensors; the mmengine metrics
(:class:`~mmcsra.evaluation.metrics.MultiLabelMAP`,
:class:`~mmcsra.evaluation.metrics.MultiLabelPRF`) and
``tools/calibrate_thresholds.py`` are thin wrappers around it.

Inputs shared by all functions:

* ``scores``: ``(N, C)`` real scores (e.g. sigmoid probabilities). They must
  be finite: NaN or ±inf raise a :class:`ValueError`.
* ``target``: ``(N, C)`` 0/1 ground truth (bool, integer or float holding
  only 0 and 1; anything else raises).
* ``valid``: optional ``(N, C)`` 0/1 mask, 0 where the entry is ignored
  (``gt_ignore``). An ignored entry is excluded from every count: it is
  neither a positive nor a negative, neither a TP, FP nor FN. ``None``
  means every entry is valid.
"""
from typing import Dict, Optional, Sequence, Tuple, Union

import torch

__all__ = [
    'INTERPOLATIONS', 'ZERO_DIVISIONS', 'check_multi_label_inputs',
    'average_precision', 'multi_label_decisions', 'prf_counts',
    'prf_from_counts', 'calibrate_f1_thresholds'
]

INTERPOLATIONS = ('none', 'voc07_11point', 'all_point_envelope')
ZERO_DIVISIONS = ('zero', 'exclude')


# --------------------------------------------------------------- validation
def _as_tensor(value, name: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    try:
        return torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError) as err:
        raise TypeError(f'{name} must be a tensor or array, got '
                        f'{type(value).__name__}') from err


def _as_binary(value, name: str, shape: torch.Size) -> torch.Tensor:
    tensor = _as_tensor(value, name)
    if tensor.shape != shape:
        raise ValueError(f'{name} has shape {tuple(tensor.shape)} but scores '
                         f'have shape {tuple(shape)}')
    if tensor.dtype == torch.bool:
        return tensor
    if tensor.numel() and not ((tensor == 0) | (tensor == 1)).all():
        bad = tensor[(tensor != 0) & (tensor != 1)].unique()[:5].tolist()
        raise ValueError(f'{name} must hold only 0 and 1, found {bad}')
    return tensor == 1


def check_multi_label_inputs(
    scores,
    target,
    valid=None,
    check_finite: bool = True
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Validate and normalise ``scores``, ``target`` and ``valid``.

    Args:
        check_finite (bool): raise on NaN/inf scores here. Callers that
            sort the scores anyway pass False and check the sorted ends
            (:func:`_check_sorted_finite`), which is much cheaper.

    Returns:
        tuple: ``scores`` (N, C) floating tensor on CPU, ``target`` (N, C)
        bool and ``valid`` (N, C) bool (all True when ``valid`` is None).

    Raises:
        ValueError: on a shape mismatch, a non-finite score or a target /
            mask value other than 0 and 1.
    """
    scores = _as_tensor(scores, 'scores')
    if scores.ndim != 2:
        raise ValueError(f'scores must have shape (N, C), got '
                         f'{tuple(scores.shape)}')
    if not scores.is_floating_point():
        scores = scores.double()
    if check_finite and not torch.isfinite(scores).all():
        _raise_not_finite(scores)
    target = _as_binary(target, 'target', scores.shape)
    if valid is None:
        valid = torch.ones_like(target)
    else:
        valid = _as_binary(valid, 'valid', scores.shape)
    return scores, target, valid


def _raise_not_finite(scores: torch.Tensor) -> None:
    where = (~torch.isfinite(scores)).nonzero()[:5].tolist()
    raise ValueError(f'scores must be finite; found NaN or inf at '
                     f'(sample, class) {where}')


def _check_sorted_finite(scores: torch.Tensor, sorted_scores: torch.Tensor,
                         num_valid: torch.Tensor) -> None:
    """Finite check on rows sorted in decreasing order.

    torch sorts NaN above +inf, so a row holds a NaN or inf iff its first
    or last valid entry is not finite.
    """
    last = sorted_scores.gather(1, (num_valid - 1).clamp(min=0)[:, None])
    ends = torch.cat([sorted_scores[:, :1], last], dim=1)  # [C, 2]
    ends = ends[num_valid > 0]
    if not torch.isfinite(ends).all():
        _raise_not_finite(scores)


# ------------------------------------------------------- average precision
def _run_ends(flat_index: torch.Tensor,
              tied_next: torch.Tensor) -> torch.Tensor:
    """Last position of the run of equal scores containing each index.

    Args:
        flat_index: (M,) increasing positions in the flattened, row-sorted
            score matrix.
        tied_next: (L - 1,) bool, True at ``i`` if the score at ``i + 1``
            equals the one at ``i`` in the same row (L = C * N).

    Returns:
        (M,) the position ``e >= i`` where the run of ``flat_index[m]`` ends.
    """
    num_tied = int(tied_next.sum())
    if num_tied == 0:
        return flat_index
    if 2 * num_tied > tied_next.numel():
        # mostly ties (coarse scores): list the few run ends and take the
        # first one at or after each index
        ends = torch.cat([(~tied_next).nonzero().squeeze(1),
                          flat_index.new_tensor([tied_next.numel()])])
        return ends[torch.searchsorted(ends, flat_index)]
    # mostly distinct scores: list the few tied positions. A chain of
    # consecutive tied positions i, i+1, ..., j is one run ending at j + 1.
    tied = tied_next.nonzero().squeeze(1)  # [T], increasing
    is_chain_end = torch.ones_like(tied, dtype=torch.bool)
    is_chain_end[:-1] = tied[1:] != tied[:-1] + 1
    chain_ends = tied[is_chain_end]  # [R], increasing
    slot = torch.searchsorted(tied, flat_index).clamp(max=tied.numel() - 1)
    in_chain = tied[slot] == flat_index
    # the first chain end at or after an index is the end of its own chain
    own_end = chain_ends[torch.searchsorted(
        chain_ends, flat_index).clamp(max=chain_ends.numel() - 1)]
    return torch.where(in_chain, own_end + 1, flat_index)


def _segmented_reverse_cummax(values: torch.Tensor, segment: torch.Tensor,
                              rank_in_segment: torch.Tensor,
                              num_segments: int) -> torch.Tensor:
    """``out[m] = max(values[m'])`` over later ``m'`` of the same segment."""
    width = int(rank_in_segment.max()) + 1
    padded = values.new_full((num_segments, width), float('-inf'))
    padded[segment, rank_in_segment] = values
    padded = padded.flip(1).cummax(dim=1).values.flip(1)
    return padded[segment, rank_in_segment]


def average_precision(scores,
                      target,
                      valid=None,
                      interpolation: str = 'none') -> torch.Tensor:
    r"""Average precision of every class (column), in [0, 1].

    For one class, rank its valid samples by decreasing score. Every
    distinct score value :math:`\tau` is one threshold (tied samples are
    accepted or rejected together, as in
    ``sklearn.metrics.average_precision_score``), giving the points
    :math:`(R_k, P_k)`, :math:`k = 1..K`, with
    :math:`P_k = TP_k / (TP_k + FP_k)` and :math:`R_k = TP_k / N_{pos}`
    for the :math:`k`-th highest distinct score, :math:`R_0 = 0`.

    * ``'none'`` (non-interpolated, sklearn's definition):
      :math:`AP = \sum_k (R_k - R_{k-1})\,P_k`.
    * ``'all_point_envelope'`` (PASCAL VOC 2010+): precision is replaced by
      its monotone envelope :math:`\hat P_k = \max_{j \ge k} P_j` and
      :math:`AP = \sum_k (R_k - R_{k-1})\,\hat P_k`.
    * ``'voc07_11point'`` (PASCAL VOC 2007): the mean of the interpolated
      precision at the 11 recall levels :math:`t = 0, 0.1, ..., 1`:
      :math:`AP = \frac{1}{11}\sum_{t} \max\{P_k : R_k \ge t\}`. The test
      :math:`R_k \ge t` is done exactly in integers
      (:math:`10\,TP_k \ge 10 t\,N_{pos}`), so e.g. recall 0.3 reaches
      :math:`t = 0.3` (the VOC devkit's ``np.arange(0, 1.1, 0.1)`` makes
      that level ``0.30000000000000004``).

    Ties matter: MMPretrain's ``AveragePrecision`` ranks tied samples one
    by one and so depends on their arbitrary order; here they form a
    single point.

    Algorithm (vectorised over classes, no Python loop): one sort of the
    ``(C, N)`` transposed scores with ignored entries moved below every
    valid one; for each positive its threshold is the end of its run of
    equal scores, found from the positions of ties; :math:`TP` at that
    point is counted by a binary search among the positives and
    :math:`TP + FP` is the run end's rank. Only the positives (a few % of
    the entries) are touched after the sort, because only points whose
    recall increases contribute to any of the three sums (a threshold that
    adds only negatives has ΔR = 0 and lower precision than the point
    before it, so it never sets the envelope either).

    Args:
        scores: (N, C) finite scores.
        target: (N, C) 0/1 ground truth.
        valid: (N, C) 0/1 mask, 0 = ignored, or None.
        interpolation (str): ``'none'`` (default), ``'voc07_11point'`` or
            ``'all_point_envelope'``.

    Returns:
        Tensor: (C,) float64 AP of each class, ``nan`` for a class without
        any valid positive (AP is undefined there).
    """
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f'interpolation must be one of {INTERPOLATIONS}, '
                         f'got {interpolation!r}')
    scores, target, valid = check_multi_label_inputs(
        scores, target, valid, check_finite=False)
    num_samples, num_classes = scores.shape
    if num_samples == 0:
        return torch.full((num_classes, ), float('nan'), dtype=torch.float64)

    # class-major contiguous copies: sorting contiguous rows is much faster
    # than sorting the strided columns of the (N, C) matrix
    has_ignored = not bool(valid.all())
    if has_ignored:
        # ignored entries sink below every (finite) valid score, so the
        # rank of a valid entry counts only valid entries above it
        key = torch.where(valid, scores, float('-inf')).t().contiguous()
        positive = (target & valid).t().contiguous()  # [C, N]
        num_valid = valid.sum(0)  # [C]
    else:
        key = scores.t().contiguous()  # [C, N]
        positive = target.t().contiguous()  # [C, N]
        num_valid = torch.full((num_classes, ), num_samples)
    sorted_scores, order = key.sort(dim=1, descending=True)  # [C, N]
    _check_sorted_finite(scores, sorted_scores, num_valid)
    positive_sorted = positive.gather(1, order)  # [C, N]

    # positives as positions in the flattened sorted matrix, class-major
    pos_flat = positive_sorted.reshape(-1).nonzero().squeeze(1)  # [M]
    if pos_flat.numel() == 0:
        return torch.full((num_classes, ), float('nan'), dtype=torch.float64)
    pos_class = pos_flat // num_samples  # [M]
    flat_scores = sorted_scores.reshape(-1)  # [C*N]
    tied_next = flat_scores[:-1] == flat_scores[1:]  # [C*N - 1]
    tied_next[num_samples - 1::num_samples] = False  # rows are separate
    run_end = _run_ends(pos_flat, tied_next)  # [M]

    num_pos = torch.bincount(pos_class, minlength=num_classes)  # [C]
    first_pos = torch.searchsorted(pos_flat, pos_class * num_samples)  # [M]
    tp = torch.searchsorted(pos_flat, run_end, right=True) - first_pos
    num_pred = run_end - pos_class * num_samples + 1  # TP + FP, [M]
    precision = tp.double() / num_pred.double()  # [M]

    if interpolation == 'none':
        return _class_sums(precision, pos_class, num_classes) / num_pos

    rank_in_class = torch.arange(pos_flat.numel()) - first_pos  # [M]
    envelope = _segmented_reverse_cummax(precision, pos_class, rank_in_class,
                                         num_classes)  # [M]
    if interpolation == 'all_point_envelope':
        return _class_sums(envelope, pos_class, num_classes) / num_pos

    # 'voc07_11point': this positive is the first to reach the recall levels
    # k/10 with 10 TP_prev < k N_pos <= 10 TP (TP_prev: TP of the previous
    # positive of the class), plus level 0 for the first positive
    is_first = rank_in_class == 0  # [M]
    tp_prev = torch.cat([tp.new_zeros(1), tp[:-1]])
    tp_prev[is_first] = 0
    npos = num_pos[pos_class]  # [M]
    levels = (10 * tp) // npos - (10 * tp_prev) // npos + is_first.long()
    level_sum = _class_sums(envelope * levels, pos_class, num_classes)
    return torch.where(num_pos > 0, level_sum / 11, float('nan'))


def _class_sums(values: torch.Tensor, index: torch.Tensor,
                num_classes: int) -> torch.Tensor:
    """(C,) float64 sums of ``values`` grouped by class ``index``."""
    total = torch.zeros(num_classes, dtype=torch.float64)
    return total.index_add_(0, index, values.double())


# ------------------------------------------------ precision / recall / F1
def multi_label_decisions(scores,
                          thr: Union[float, Sequence[float], torch.Tensor,
                                     None] = 0.5,
                          topk: Optional[int] = None) -> torch.Tensor:
    """Binary decisions from scores: threshold and optional top-k.

    An entry is predicted positive iff ``score >= thr`` (``thr`` may be one
    value or one per class) and, when ``topk`` is set, it is among the
    ``topk`` highest scores of its sample. Top-k ranks all C classes of the
    sample (the prediction does not know which entries are ignored), ties
    broken by the lower class index.

    Args:
        scores: (N, C) scores.
        thr (float | sequence | Tensor | None): threshold(s); ``None`` keeps
            every top-k entry (then ``topk`` is required).
        topk (int, optional): keep at most this many positives per sample.

    Returns:
        Tensor: (N, C) bool.
    """
    scores = _as_tensor(scores, 'scores')
    num_classes = scores.size(1)
    if thr is None and topk is None:
        raise ValueError('give thr, topk or both')
    if thr is None:
        pred = torch.ones_like(scores, dtype=torch.bool)
    else:
        thr = _as_tensor(thr, 'thr').double()
        if thr.ndim > 1 or (thr.ndim == 1 and thr.numel() != num_classes):
            raise ValueError(f'thr must be a number or have {num_classes} '
                             f'entries (one per class), got shape '
                             f'{tuple(thr.shape)}')
        # compare in float64: a per-class threshold stored from a float32
        # score reproduces that score's decision exactly
        pred = scores.double() >= thr  # [N, C]
    if topk is not None:
        if not 1 <= topk <= num_classes:
            raise ValueError(f'topk must be in [1, {num_classes}], got '
                             f'{topk}')
        pred = pred & _topk_mask(scores, topk)
    return pred


def _topk_mask(scores: torch.Tensor, k: int) -> torch.Tensor:
    """(N, C) bool: the k highest scores of each row, ties -> lower index.

    Every score above the row's k-th value is in; of the scores equal to
    it, the first ones (by class index) fill the remaining places. Cheaper
    than a stable sort of every row.
    """
    kth = scores.topk(k, dim=1).values[:, -1:]  # [N, 1]
    above = scores > kth  # [N, C]
    tied = scores == kth  # [N, C]
    free = k - above.sum(1, keepdim=True)  # [N, 1], >= 1
    return above | (tied & (tied.cumsum(1, dtype=torch.int32) <= free))


def prf_counts(pred, target, valid=None) -> Dict[str, torch.Tensor]:
    """Per-class counts of a binary decision over valid entries.

    Returns:
        dict: ``tp``, ``num_pred`` (TP + FP) and ``num_gt`` (TP + FN), each a
        (C,) int64 tensor.
    """
    pred = _as_binary(pred, 'pred', _as_tensor(pred, 'pred').shape)
    target = _as_binary(target, 'target', pred.shape)
    valid = torch.ones_like(pred) if valid is None else _as_binary(
        valid, 'valid', pred.shape)
    pred = pred & valid
    gt = target & valid
    return dict(tp=(pred & gt).sum(0), num_pred=pred.sum(0), num_gt=gt.sum(0))


def _ratio(num: torch.Tensor, den: torch.Tensor,
           zero_division: str) -> torch.Tensor:
    """num / den with 0/0 -> 0 ('zero') or nan ('exclude')."""
    num, den = num.double(), den.double()
    empty = float('nan') if zero_division == 'exclude' else 0.0
    return torch.where(den > 0, num / den.clamp(min=1), empty)


def _f1(p: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    return torch.where(p + r > 0, 2 * p * r / (p + r), p.new_zeros(()))


def prf_from_counts(tp,
                    num_pred,
                    num_gt,
                    zero_division: str = 'zero') -> Dict[str, torch.Tensor]:
    r"""CP, CR, CF1, OP, OR, OF1 (in [0, 1]) from per-class counts.

    As defined in the multi-label recognition papers (ML-GCN, CSRA, ...):

    .. math::
        CP = \frac{1}{C}\sum_i \frac{TP_i}{TP_i + FP_i}, \quad
        CR = \frac{1}{C}\sum_i \frac{TP_i}{TP_i + FN_i}, \quad
        CF1 = \frac{2\,CP\,CR}{CP + CR}

        OP = \frac{\sum_i TP_i}{\sum_i (TP_i + FP_i)}, \quad
        OR = \frac{\sum_i TP_i}{\sum_i (TP_i + FN_i)}, \quad
        OF1 = \frac{2\,OP\,OR}{OP + OR}

    CF1 is the F1 of the averaged precision and recall, not the mean of the
    per-class F1 scores. An F1 whose P + R is 0 is 0.

    Args:
        tp, num_pred, num_gt: (C,) counts (see :func:`prf_counts`).
        zero_division (str): a ratio with a zero denominator (a class never
            predicted, a class without positives, or nothing predicted at
            all for OP) is ``'zero'``: counted as 0 (default; the
            convention of the ML-GCN/CSRA evaluation code, which sets the
            number of predictions of such a class to 1), or
            ``'exclude'``: left out of the class mean (and ``nan`` for a
            pooled ratio with nothing to pool).

    Returns:
        dict: the six scalars (float64 tensors) and the per-class
        ``precision`` and ``recall`` (C,) (``nan`` for 'exclude').
    """
    if zero_division not in ZERO_DIVISIONS:
        raise ValueError(f'zero_division must be one of {ZERO_DIVISIONS}, '
                         f'got {zero_division!r}')
    precision = _ratio(tp, num_pred, zero_division)  # [C]
    recall = _ratio(tp, num_gt, zero_division)  # [C]
    cp = precision.nanmean() if precision.numel() else precision.sum()
    cr = recall.nanmean() if recall.numel() else recall.sum()
    op = _ratio(tp.sum(), num_pred.sum(), zero_division)
    o_r = _ratio(tp.sum(), num_gt.sum(), zero_division)
    return dict(
        CP=cp,
        CR=cr,
        CF1=_f1(cp, cr),
        OP=op,
        OR=o_r,
        OF1=_f1(op, o_r),
        precision=precision,
        recall=recall)


# -------------------------------------------------------------- calibration
def calibrate_f1_thresholds(
    scores,
    target,
    valid=None,
    default_thr: float = 0.5
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""Per-class thresholds that maximise each class's F1 on these scores.

    For class :math:`i` and decision ``score >= t``,
    :math:`F1_i(t) = 2\,TP / (2\,TP + FP + FN) = 2\,TP / (N_{pos} + TP + FP)`
    only changes at the distinct valid scores, so the candidates are
    "accept every valid sample whose score is >= s" for each distinct
    score s. Among the candidates with the maximal F1 the one accepting the
    fewest samples (the highest s) wins. The stored threshold is the
    midpoint between s and the next lower valid score (s itself when s is
    the lowest score or when the midpoint, rounded to the scores' dtype,
    does not lie strictly above that next score), so applying it to these
    scores reproduces exactly the chosen decisions.

    Args:
        scores: (N, C) finite scores.
        target: (N, C) 0/1 ground truth.
        valid: (N, C) 0/1 mask, 0 = ignored, or None.
        default_thr (float): threshold of a class without valid positives
            (its F1 is 0 whatever the threshold). Defaults to 0.5.

    Returns:
        tuple: ``thresholds`` (C,) float64 (each a value of the scores'
        dtype), ``best_f1`` (C,) float64 and ``num_pos`` (C,) int64 (the
        classes with 0 got ``default_thr``).
    """
    scores, target, valid = check_multi_label_inputs(scores, target, valid)
    num_samples, num_classes = scores.shape
    if num_samples == 0:
        raise ValueError('can not calibrate thresholds on 0 samples')
    key = torch.where(valid, scores, float('-inf')).t()  # [C, N]
    sorted_scores, order = key.sort(dim=1, descending=True)  # [C, N]
    positive = (target & valid).t().gather(1, order)  # [C, N]
    num_valid = valid.sum(0)  # [C]
    num_pos = positive.sum(1)  # [C]
    tp = positive.long().cumsum(1)  # [C, N]
    accepted = torch.arange(1, num_samples + 1)  # [N], TP + FP
    f1 = 2 * tp.double() / (num_pos[:, None] + accepted).double()  # [C, N]
    # a candidate is the last position of a run of equal valid scores
    is_run_end = torch.ones_like(positive)
    is_run_end[:, :-1] = sorted_scores[:, :-1] != sorted_scores[:, 1:]
    is_candidate = is_run_end & (accepted[None] <= num_valid[:, None])
    f1 = torch.where(is_candidate, f1, float('-inf'))
    best_f1, cut = f1.max(dim=1)  # first (highest-score) maximum, [C]

    chosen = sorted_scores.gather(1, cut[:, None]).squeeze(1)  # [C]
    has_below = cut + 1 < num_valid
    below = sorted_scores.gather(1, (cut + 1).clamp(max=num_samples -
                                                    1)[:, None]).squeeze(1)
    midpoint = ((chosen.double() + below.double()) / 2).to(scores.dtype)
    separates = has_below & (midpoint > below) & (midpoint <= chosen)
    thresholds = torch.where(separates, midpoint, chosen).double()
    empty = num_pos == 0
    thresholds[empty] = float(default_thr)
    best_f1[empty] = 0.0
    return thresholds, best_f1.clamp(min=0.0), num_pos
