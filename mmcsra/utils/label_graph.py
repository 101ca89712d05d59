"""Label co-occurrence graphs for multi-label recognition (ML-GCN).

Chen et al., *Multi-Label Image Recognition with Graph Convolutional
Networks*, CVPR 2019 (https://arxiv.org/abs/1904.03582), Sec. 3.4, build the
label graph from the training annotations:

1. Count :math:`N_i` (images with class i) and :math:`N_{ij}` (images with
   both i and j, i != j) and form the conditional probability
   :math:`P_{ij} = P(L_j \\mid L_i) = N_{ij} / N_i` (row i, column j).
2. Binarise at a threshold :math:`t` (Eq. 7):
   :math:`A_{ij} = 1` if :math:`P_{ij} \\ge t`, else 0.
3. Re-weight with :math:`p` (Eq. 8) so a node keeps weight 1 - p for itself
   and spreads p over its neighbours:

   .. math::
       A'_{ij} = \\begin{cases}
           p \\,/\\, \\sum_{k \\ne i} A_{ik} \\cdot A_{ij} & i \\ne j \\\\
           1 - p & i = j
       \\end{cases}

4. The GCN propagates with :math:`\\hat A = D^{-1/2} A' D^{-1/2}`,
   :math:`D_{ii} = \\sum_j A'_{ij}` (Kipf & Welling, ICLR 2017).

The released ML-GCN code (``util.gen_A`` / ``gen_adj``) differs from Eq. 8;
:func:`reweight_adjacency` implements both:

* ``convention='paper'`` (default): Eq. 8 above. A class without neighbours
  (:math:`\\sum_{k \\ne i} A_{ik} = 0`) keeps only its self-loop 1 - p.
* ``convention='official'``: the code divides each *column* by its sum,
  :math:`A'_{ij} = p\\,A_{ij} / (\\sum_k A_{kj} + 10^{-6})`, and adds the
  identity (self-loop weight 1, not 1 - p). A column without edges stays 0
  (the 1e-6 avoids 0/0). ``gen_adj`` then returns
  :math:`D^{-1/2} A'^{\\top} D^{-1/2}` with :math:`D` the *row* sums of
  :math:`A'`; :func:`normalize_adjacency` with ``transpose=True`` reproduces
  that.

Both give a non-symmetric :math:`\\hat A` in general, because
:math:`P(L_j \\mid L_i) \\ne P(L_i \\mid L_j)`.

Co-occurrence files (``.npz``) hold ``adj`` (C, C) integer counts
:math:`N_{ij}` with a zero diagonal and ``nums`` (C,) counts :math:`N_i`, the
layout of the ML-GCN ``*_adj.pkl`` files; ``tools/build_label_graph.py``
writes them (plus ``classes``). Only the ``load_*`` functions read files.
"""
import os.path as osp
from typing import Iterable, Optional, Sequence, Tuple

import numpy as np

__all__ = [
    'count_cooccurrence', 'conditional_probability', 'binarize_adjacency',
    'reweight_adjacency', 'normalize_adjacency', 'build_label_graph',
    'load_cooccurrence', 'load_label_embeddings', 'load_adjacency',
    'class_indices_by_name'
]

CONVENTIONS = ('paper', 'official')


def count_cooccurrence(label_lists: Iterable[Sequence[int]],
                       num_classes: int) -> Tuple[np.ndarray, np.ndarray]:
    """Count label occurrences and pairwise co-occurrences.

    Args:
        label_lists: one sequence of positive class indices per image.
            A class listed twice in one image counts once.
        num_classes (int): C.

    Returns:
        tuple: ``adj`` (C, C) int64, ``adj[i, j]`` = number of images with
        both i and j (i != j; the diagonal is 0), and ``nums`` (C,) int64,
        number of images with class i.

    Raises:
        IndexError: if a label is outside ``[0, num_classes)``, naming the
            image (its position in ``label_lists``).
    """
    adj = np.zeros((num_classes, num_classes), dtype=np.int64)
    nums = np.zeros(num_classes, dtype=np.int64)
    for image_idx, labels in enumerate(label_lists):
        labels = np.unique(np.asarray(labels, dtype=np.int64).reshape(-1))
        if labels.size and (labels[0] < 0 or labels[-1] >= num_classes):
            raise IndexError(
                f'image {image_idx} has labels {labels.tolist()} outside '
                f'[0, {num_classes})')
        nums[labels] += 1
        adj[np.ix_(labels, labels)] += 1
    np.fill_diagonal(adj, 0)
    return adj, nums


def conditional_probability(adj: np.ndarray, nums: np.ndarray) -> np.ndarray:
    """:math:`P_{ij} = P(L_j \\mid L_i) = N_{ij} / N_i`.

    A class that never occurs (:math:`N_i = 0`) has no evidence of
    co-occurrence, so its row is 0 (ML-GCN's code would produce NaN there).
    The diagonal is set to 0: self-loops are added by
    :func:`reweight_adjacency`.

    Raises:
        ValueError: on shape mismatch, negative counts, or
            :math:`N_{ij} > N_i`.
    """
    adj = np.asarray(adj, dtype=np.float64)
    nums = np.asarray(nums, dtype=np.float64).reshape(-1)
    num_classes = nums.shape[0]
    if adj.shape != (num_classes, num_classes):
        raise ValueError(f'co-occurrence counts have shape {adj.shape}, '
                         f'expected ({num_classes}, {num_classes}) from nums')
    if (adj < 0).any() or (nums < 0).any():
        raise ValueError('co-occurrence counts must be non-negative')
    off_diag = adj * (1.0 - np.eye(num_classes))
    too_many = off_diag > nums[:, None]
    if too_many.any():
        i, j = np.argwhere(too_many)[0]
        raise ValueError(f'N[{i}, {j}] = {adj[i, j]:g} exceeds the count '
                         f'N[{i}] = {nums[i]:g} of class {i}')
    prob = np.zeros_like(off_diag)
    seen = nums > 0
    prob[seen] = off_diag[seen] / nums[seen, None]
    return prob


def binarize_adjacency(prob: np.ndarray, t: float = 0.4) -> np.ndarray:
    """ML-GCN Eq. 7: 1 where :math:`P_{ij} \\ge t` (i != j), else 0."""
    if not 0.0 < t <= 1.0:
        raise ValueError(f'threshold t must be in (0, 1], got {t}')
    binary = (np.asarray(prob) >= t).astype(np.float64)
    np.fill_diagonal(binary, 0.0)
    return binary


def reweight_adjacency(binary: np.ndarray,
                       p: float = 0.25,
                       convention: str = 'paper') -> np.ndarray:
    """ML-GCN re-weighting (Eq. 8, or the released code's variant).

    Args:
        binary (ndarray): (C, C) 0/1 adjacency without self-loops.
        p (float): weight given to the neighbours. Defaults to 0.25.
        convention (str): ``'paper'`` (Eq. 8: row-normalised neighbours,
            self-loop 1 - p) or ``'official'`` (column-normalised neighbours,
            self-loop 1). See the module docstring.
    """
    if convention not in CONVENTIONS:
        raise ValueError(f'convention must be one of {CONVENTIONS}, '
                         f'got {convention!r}')
    if not 0.0 <= p <= 1.0:
        raise ValueError(f'p must be in [0, 1], got {p}')
    binary = np.asarray(binary, dtype=np.float64).copy()
    np.fill_diagonal(binary, 0.0)
    num_classes = binary.shape[0]
    if convention == 'paper':
        degree = binary.sum(axis=1, keepdims=True)  # [C, 1]
        has_neighbours = degree > 0
        scaled = np.where(has_neighbours, binary * p / np.maximum(degree, 1),
                          0.0)
        return scaled + (1.0 - p) * np.eye(num_classes)
    in_degree = binary.sum(axis=0, keepdims=True)  # [1, C]
    return binary * p / (in_degree + 1e-6) + np.eye(num_classes)


def normalize_adjacency(adj: np.ndarray,
                        transpose: bool = False) -> np.ndarray:
    """Symmetric normalisation :math:`D^{-1/2} A D^{-1/2}`.

    Args:
        adj (ndarray): (C, C) non-negative weights.
        transpose (bool): return :math:`D^{-1/2} A^{\\top} D^{-1/2}`, as the
            released ML-GCN ``gen_adj`` does. :math:`D` is always the row
            sums of ``adj``. Defaults to False.

    Raises:
        ValueError: if a row sums to 0 (the node has no self-loop and no
            neighbour, so :math:`D^{-1/2}` is undefined).
    """
    adj = np.asarray(adj, dtype=np.float64)
    degree = adj.sum(axis=1)
    if (degree <= 0).any():
        rows = np.flatnonzero(degree <= 0).tolist()
        raise ValueError(f'adjacency rows {rows} sum to 0: add self-loops')
    inv_sqrt = 1.0 / np.sqrt(degree)
    mat = adj.T if transpose else adj
    return inv_sqrt[:, None] * mat * inv_sqrt[None, :]


def build_label_graph(adj: np.ndarray,
                      nums: np.ndarray,
                      t: float = 0.4,
                      p: float = 0.25,
                      convention: str = 'paper') -> np.ndarray:
    """Counts -> the normalised adjacency :math:`\\hat A` a GCN uses.

    Args:
        adj (ndarray): (C, C) co-occurrence counts :math:`N_{ij}`.
        nums (ndarray): (C,) occurrence counts :math:`N_i`.
        t (float): binarisation threshold (Eq. 7). Defaults to 0.4.
        p (float): re-weighting (Eq. 8). Defaults to 0.25.
        convention (str): ``'paper'`` or ``'official'``; ``'official'`` also
            transposes in the normalisation as ML-GCN's ``gen_adj``.

    Returns:
        ndarray: (C, C) float32.
    """
    binary = binarize_adjacency(conditional_probability(adj, nums), t)
    weighted = reweight_adjacency(binary, p, convention)
    return normalize_adjacency(
        weighted, transpose=convention == 'official').astype(np.float32)


def class_indices_by_name(file_classes: Sequence[str],
                          dataset_classes: Sequence[str]) -> list:
    """Row of a label-graph file for each dataset class, matched by name.

    E.g. the ML-GCN COCO files are sorted alphabetically while COCO datasets
    use the category-id order: ``class_indices_by_name(file_names,
    dataset.metainfo['classes'])`` gives the ``class_indices`` argument of
    :func:`load_cooccurrence` / :func:`load_label_embeddings`.

    Raises:
        KeyError: naming the dataset classes missing from the file.
    """
    position = {name: i for i, name in enumerate(file_classes)}
    missing = [name for name in dataset_classes if name not in position]
    if missing:
        raise KeyError(f'classes {missing} are not in the label-graph file')
    return [position[name] for name in dataset_classes]


def _select(array: np.ndarray, class_indices: Optional[Sequence[int]],
            axes: Tuple[int, ...], source: str) -> np.ndarray:
    if class_indices is None:
        return array
    idx = np.asarray(class_indices, dtype=np.int64)
    size = array.shape[axes[0]]
    if idx.size and (idx.min() < 0 or idx.max() >= size):
        raise IndexError(f'class_indices outside [0, {size}) for {source}')
    for axis in axes:
        array = np.take(array, idx, axis=axis)
    return array


def load_cooccurrence(
    path: str,
    class_indices: Optional[Sequence[int]] = None
) -> Tuple[np.ndarray, np.ndarray]:
    """Read ``adj`` and ``nums`` from a co-occurrence ``.npz`` file.

    Args:
        path (str): ``.npz`` with ``adj`` (C, C) and ``nums`` (C,).
        class_indices (Sequence[int], optional): keep and reorder the rows /
            columns so that model class k is file row ``class_indices[k]``.

    Raises:
        FileNotFoundError / KeyError / ValueError: naming the file.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'co-occurrence file {path!r} not found')
    with np.load(path, allow_pickle=False) as data:
        missing = [key for key in ('adj', 'nums') if key not in data.files]
        if missing:
            raise KeyError(f'{path!r} lacks the arrays {missing} '
                           f'(it has {data.files})')
        adj, nums = data['adj'], data['nums']
    if adj.ndim != 2 or adj.shape != (nums.shape[0], nums.shape[0]):
        raise ValueError(f'{path!r}: adj has shape {adj.shape}, nums has '
                         f'shape {nums.shape}')
    adj = _select(adj, class_indices, (0, 1), path)
    nums = _select(nums, class_indices, (0, ), path)
    return adj, nums


def load_label_embeddings(
        path: str,
        class_indices: Optional[Sequence[int]] = None) -> np.ndarray:
    """Read a (C, E) label-embedding ``.npy`` file (e.g. GloVe vectors).

    Args:
        path (str): the ``.npy`` file.
        class_indices (Sequence[int], optional): as in
            :func:`load_cooccurrence`.

    Raises:
        FileNotFoundError / ValueError: naming the file.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'label-embedding file {path!r} not found')
    embeddings = np.load(path, allow_pickle=False)
    if embeddings.ndim != 2:
        raise ValueError(f'{path!r} must hold a (C, E) array, got shape '
                         f'{embeddings.shape}')
    return _select(embeddings, class_indices, (0, ), path).astype(np.float32)


def load_adjacency(path: str) -> np.ndarray:
    """Read a ready (C, C) adjacency ``.npy`` file (used as given).

    Raises:
        FileNotFoundError / ValueError: naming the file.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'adjacency file {path!r} not found')
    adj = np.load(path, allow_pickle=False)
    if adj.ndim != 2 or adj.shape[0] != adj.shape[1]:
        raise ValueError(f'{path!r} must hold a (C, C) array, got shape '
                         f'{adj.shape}')
    return adj.astype(np.float32)
