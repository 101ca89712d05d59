"""Label-graph math (ML-GCN), graph layers, LabelGraphReweightNeck and
tools/build_label_graph.py."""
import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS

import mmcsra  # noqa: F401
from mmcsra.models.utils import GraphAttention, GraphConvolution
from mmcsra.utils.label_graph import (binarize_adjacency, build_label_graph,
                                      class_indices_by_name,
                                      conditional_probability,
                                      count_cooccurrence, load_cooccurrence,
                                      load_label_embeddings,
                                      normalize_adjacency, reweight_adjacency)

from utils import REPO

REPO = Path(REPO)
SHARED = REPO.parent / 'shared' / 'label_graph'
needs_shared = pytest.mark.skipif(
    not (SHARED / 'voc_cooccurrence.npz').is_file(),
    reason=f'the ML-GCN label-graph data is not at {SHARED} (shared/ is '
    'beside the repository on the project machines, not in it)')

# A 4-class toy set: class 0 always with 1; 1 mostly without 0; 2 with 1
# half of the time; 3 never occurs. Image 5 lists class 2 twice.
TOY_LABELS = [[0, 1], [0, 1], [1, 2], [1], [], [2, 2]]
TOY_ADJ = np.array([[0, 2, 0, 0], [2, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 0]])
TOY_NUMS = np.array([2, 4, 2, 0])
# P(j|i) = N_ij / N_i; row 3 has N_3 = 0 -> 0
TOY_PROB = np.array([[0, 1, 0, 0], [.5, 0, .25, 0], [0, .5, 0, 0],
                     [0, 0, 0, 0]])
# t = 0.4: 0 -> 1, 1 -> 0, 2 -> 1; class 3 has no neighbour
TOY_BINARY = np.array([[0, 1, 0, 0], [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0]])


# ------------------------------------------------------------ pure math
def test_count_cooccurrence_by_hand():
    adj, nums = count_cooccurrence(TOY_LABELS, 4)
    np.testing.assert_array_equal(adj, TOY_ADJ)
    np.testing.assert_array_equal(nums, TOY_NUMS)
    with pytest.raises(IndexError, match='image 1'):
        count_cooccurrence([[0], [4]], 4)


def test_conditional_probability_and_binarize_by_hand():
    prob = conditional_probability(TOY_ADJ, TOY_NUMS)
    np.testing.assert_allclose(prob, TOY_PROB)
    np.testing.assert_array_equal(binarize_adjacency(prob, 0.4), TOY_BINARY)
    # at t = 0.5 the 1 -> 0 edge (P = 0.5) stays, at 0.6 it goes
    assert binarize_adjacency(prob, 0.5)[1, 0] == 1
    assert binarize_adjacency(prob, 0.6)[1, 0] == 0
    with pytest.raises(ValueError, match='exceeds'):
        conditional_probability(np.array([[0, 3], [3, 0]]), np.array([2, 3]))


def test_paper_reweighting_by_hand():
    """Eq. 8 with p = 0.25: p / (number of neighbours) off the diagonal,
    1 - p on it; the neighbour-less class 3 keeps only 0.75."""
    weighted = reweight_adjacency(TOY_BINARY, 0.25, 'paper')
    expected = np.array([[.75, .25, 0, 0], [.25, .75, 0, 0], [0, .25, .75, 0],
                         [0, 0, 0, .75]])
    np.testing.assert_allclose(weighted, expected)
    # row sums 1, 1, 1, 0.75 -> only row/column 3 are rescaled: 0.75/0.75
    normalized = normalize_adjacency(weighted)
    expected_hat = expected.copy()
    expected_hat[3, 3] = 1.0
    np.testing.assert_allclose(normalized, expected_hat)
    np.testing.assert_allclose(
        build_label_graph(TOY_ADJ, TOY_NUMS, t=0.4, p=0.25),
        expected_hat,
        rtol=1e-6)


def test_official_reweighting_by_hand():
    """ML-GCN's released gen_A: p / (column sum + 1e-6), self-loop 1;
    gen_adj: D^-1/2 A^T D^-1/2 with D the row sums of A."""
    weighted = reweight_adjacency(TOY_BINARY, 0.25, 'official')
    # in-degrees: column 0 <- {1}, column 1 <- {0, 2}, columns 2, 3 <- {}
    expected = np.array([[1, .125, 0, 0], [.25, 1, 0, 0], [0, .125, 1, 0],
                         [0, 0, 0, 1]])
    np.testing.assert_allclose(weighted, expected, rtol=1e-5)
    d = np.array([1.125, 1.25, 1.125, 1.0])  # row sums of `expected`
    hat = build_label_graph(TOY_ADJ, TOY_NUMS, convention='official')
    assert hat[0, 0] == pytest.approx(1 / 1.125, rel=1e-5)
    assert hat[1, 1] == pytest.approx(1 / 1.25, rel=1e-5)
    assert hat[0, 1] == pytest.approx(.25 / math.sqrt(d[0] * d[1]), rel=1e-5)
    assert hat[1, 0] == pytest.approx(.125 / math.sqrt(d[0] * d[1]), rel=1e-5)
    assert hat[1, 2] == pytest.approx(.125 / math.sqrt(d[1] * d[2]), rel=1e-5)
    assert hat[2, 1] == 0 and hat[3, 3] == pytest.approx(1.0)


def test_bad_arguments():
    with pytest.raises(ValueError, match='convention'):
        reweight_adjacency(TOY_BINARY, 0.25, 'other')
    with pytest.raises(ValueError, match='threshold'):
        binarize_adjacency(TOY_PROB, 0.0)
    # p = 1 leaves class 3 without self-loop or neighbour
    with pytest.raises(ValueError, match=r'rows \[3\]'):
        build_label_graph(TOY_ADJ, TOY_NUMS, p=1.0)


# ------------------------------------------------------ real ML-GCN data
def voc_counts():
    with np.load(SHARED / 'voc_cooccurrence.npz') as data:
        return data['adj'], data['nums']


@needs_shared
def test_voc_graph_has_six_edges_and_known_rows():
    adj, nums = voc_counts()
    classes = (SHARED / 'voc_classes.txt').read_text().split()
    binary = binarize_adjacency(conditional_probability(adj, nums), 0.4)
    assert binary.sum() == 6  # the README's count
    # each edge i -> j has N_ij / N_i >= 0.4, computed here from the counts
    for i, j in zip(*np.nonzero(binary)):
        assert adj[i, j] / nums[i] >= 0.4
    person, table, chair = (
        classes.index(name) for name in ('person', 'diningtable', 'chair'))
    assert (adj[person] / nums[person]).max() < 0.4  # person -> nothing
    assert adj[table, chair] / nums[table] >= 0.4
    assert adj[table, person] / nums[table] >= 0.4

    hat = build_label_graph(adj, nums, t=0.4, p=0.25)
    degree = binary.sum(axis=1)
    # Eq. 8 row sums: 1 with neighbours, 1 - p = 0.75 without
    row_sum = np.where(degree > 0, 1.0, 0.75)
    # diningtable has 2 neighbours (chair, person), neither has any
    assert degree[table] == 2 and degree[chair] == 0 and degree[person] == 0
    expected_row = np.zeros(20)
    expected_row[table] = 0.75 / row_sum[table]
    for j in (chair, person):
        expected_row[j] = 0.125 / math.sqrt(row_sum[table] * row_sum[j])
    np.testing.assert_allclose(hat[table], expected_row, rtol=1e-6)
    expected_person = np.zeros(20)
    expected_person[person] = 1.0  # only its self-loop, 0.75 / 0.75
    np.testing.assert_allclose(hat[person], expected_person, rtol=1e-6)
    # P(j|i) is not symmetric, so neither is the graph
    assert hat[table, person] > 0 and hat[person, table] == 0


@needs_shared
def test_voc_official_matches_restated_gen_a():
    """The 'official' convention equals ML-GCN's gen_A + gen_adj, restated
    here in plain numpy from the released code's formulas."""
    adj, nums = voc_counts()
    a = adj / nums[:, None]
    a = (a >= 0.4).astype(np.float64)
    a = a * 0.25 / (a.sum(0, keepdims=True) + 1e-6) + np.eye(20)
    d = np.diag(a.sum(1)**-0.5)
    expected = (a @ d).T @ d
    np.testing.assert_allclose(
        build_label_graph(adj, nums, convention='official'),
        expected,
        rtol=1e-6)


@needs_shared
def test_coco_class_reordering_permutes_the_graph():
    names = (SHARED / 'coco_classes.txt').read_text().splitlines()
    # any dataset order, e.g. reversed: permutation commutes with the math
    order = class_indices_by_name(names, names[::-1])
    assert order == list(range(79, -1, -1))
    adj, nums = load_cooccurrence(str(SHARED / 'coco_cooccurrence.npz'))
    adj_p, nums_p = load_cooccurrence(
        str(SHARED / 'coco_cooccurrence.npz'), order)
    np.testing.assert_allclose(
        build_label_graph(adj_p, nums_p),
        build_label_graph(adj, nums)[np.ix_(order, order)])
    emb = load_label_embeddings(str(SHARED / 'coco_glove300.npy'), order)
    assert emb.shape == (80, 300) and emb.dtype == np.float32
    np.testing.assert_array_equal(emb[0],
                                  np.load(SHARED / 'coco_glove300.npy')[79])
    with pytest.raises(KeyError, match='unicorn'):
        class_indices_by_name(names, ['person', 'unicorn'])


def test_loader_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.npz'):
        load_cooccurrence(str(tmp_path / 'nope.npz'))
    np.savez(tmp_path / 'bad.npz', adj=TOY_ADJ)
    with pytest.raises(KeyError, match='nums'):
        load_cooccurrence(str(tmp_path / 'bad.npz'))


# ------------------------------------------------------------ graph layers
def test_gcn_layer_is_a_x_w():
    torch.manual_seed(0)
    layer = GraphConvolution(5, 3, bias=True)
    x, adj = torch.randn(4, 5), torch.rand(4, 4)
    expected = torch.zeros(4, 3)
    for i in range(4):
        for j in range(4):
            expected[i] += adj[i, j] * (x[j] @ layer.weight)
    torch.testing.assert_close(layer(x, adj), expected + layer.bias)


def test_gat_layer_matches_masked_softmax_by_loops():
    torch.manual_seed(0)
    layer = GraphAttention(5, 3)
    x = torch.randn(4, 5)
    adj = torch.tensor(TOY_BINARY, dtype=torch.float32) * 0.3  # no loops
    wh = x @ layer.weight
    expected = torch.zeros(4, 3)
    for i in range(4):
        neighbours = [j for j in range(4) if adj[i, j] > 0 or j == i]
        logits = torch.stack([
            F.leaky_relu(layer.attn[0] @ wh[i] + layer.attn[1] @ wh[j], 0.2)
            for j in neighbours
        ])
        alpha = torch.softmax(logits, dim=0)
        expected[i] = sum(a * wh[j] for a, j in zip(alpha, neighbours))
    torch.testing.assert_close(layer(x, adj), expected)
    # class 3 has no neighbour: it attends to itself only
    torch.testing.assert_close(layer(x, adj)[3], wh[3])


# ------------------------------------------------------------------ neck
def build_neck(layer_type='gat', **kwargs):
    torch.manual_seed(0)
    cfg = dict(
        type='LabelGraphReweightNeck',
        num_classes=4,
        in_channels=6,
        cooccurrence=dict(adj=TOY_ADJ, nums=TOY_NUMS),
        label_embeddings=np.random.RandomState(0).randn(4, 5),
        hidden_channels=7,
        layer_type=layer_type)
    cfg.update(kwargs)
    return MODELS.build(cfg)


def reference_weights(neck):
    adj = torch.tensor(
        build_label_graph(TOY_ADJ, TOY_NUMS), dtype=torch.float32)
    x = neck.graph1(neck.embeddings, adj)
    x = F.leaky_relu(x, 0.2)
    x = neck.graph2(x, adj)  # [C, D]
    return torch.sigmoid(x.max(dim=0).values)  # [D]


@pytest.mark.parametrize('layer_type', ['gat', 'gcn'])
def test_neck_reweights_the_last_output(layer_type):
    neck = build_neck(layer_type)
    first, last = torch.randn(2, 3, 8, 8), torch.randn(2, 6, 4, 4)
    out = neck((first, last))
    assert out[0] is first  # passed through
    weights = reference_weights(neck)
    torch.testing.assert_close(out[1], last * weights.view(1, 6, 1, 1))
    assert weights.min() > 0 and weights.max() < 1
    # a single tensor in gives a single tensor out; (B, D) works too
    torch.testing.assert_close(neck(last), out[1])
    pooled = torch.randn(2, 6)
    torch.testing.assert_close(neck(pooled), pooled * weights)
    with pytest.raises(ValueError, match=r'\(B, 6, \.\.\.\)'):
        neck(torch.randn(2, 5, 4, 4))


def test_neck_inputs():
    learned = build_neck(label_embeddings=None, embed_dims=9)
    assert learned.embeddings.requires_grad
    assert tuple(learned.embeddings.shape) == (4, 9)
    fixed = build_neck()
    assert 'embeddings' not in dict(fixed.named_parameters())
    assert 'embeddings' in fixed.state_dict()
    tuned = build_neck(learnable_embeddings=True)
    assert 'embeddings' in dict(tuned.named_parameters())
    ready = build_neck(cooccurrence=None, adjacency=np.eye(4))
    torch.testing.assert_close(ready.adjacency, torch.eye(4))
    with pytest.raises(ValueError, match='exactly one'):
        build_neck(adjacency=np.eye(4))
    with pytest.raises(ValueError, match=r'\(4, 4\)'):
        build_neck(cooccurrence=None, adjacency=np.eye(3))
    with pytest.raises(ValueError, match='label_embeddings'):
        build_neck(label_embeddings=np.zeros((3, 5)))
    with pytest.raises(ValueError, match='layer_type'):
        build_neck('sage')


@needs_shared
def test_neck_reads_shared_voc_files():
    neck = MODELS.build(
        dict(
            type='LabelGraphReweightNeck',
            num_classes=20,
            in_channels=8,
            cooccurrence=str(SHARED / 'voc_cooccurrence.npz'),
            label_embeddings=str(SHARED / 'voc_glove300.npy'),
            hidden_channels=4))
    adj, nums = voc_counts()
    np.testing.assert_allclose(neck.adjacency.numpy(),
                               build_label_graph(adj, nums))
    np.testing.assert_array_equal(neck.embeddings.numpy(),
                                  np.load(SHARED / 'voc_glove300.npy'))


# ------------------------------------------------------------------ cache
def count_computations(neck):
    calls = []
    original = neck.compute_channel_weights

    def counted():
        calls.append(1)
        return original()

    neck.compute_channel_weights = counted
    return calls


def test_cache_equals_fresh_and_is_computed_once():
    neck = build_neck().eval()
    calls = count_computations(neck)
    feats = torch.randn(2, 6, 3, 3)
    with torch.no_grad():
        first = neck(feats)
        second = neck(feats)
        fresh = feats * reference_weights(neck).view(1, 6, 1, 1)
    assert len(calls) == 1
    torch.testing.assert_close(first, fresh)
    torch.testing.assert_close(second, fresh)


def test_cache_follows_load_state_dict():
    neck, other = build_neck().eval(), build_neck()
    torch.manual_seed(1)
    other.graph2.reset_parameters()
    feats = torch.randn(2, 6, 3, 3)
    with torch.no_grad():
        before = neck(feats)
        neck.load_state_dict(other.state_dict())
        after = neck(feats)
        expected = feats * reference_weights(other).view(1, 6, 1, 1)
    torch.testing.assert_close(after, expected)
    assert not torch.allclose(before, after)


@pytest.mark.parametrize('optimizer', [torch.optim.SGD, torch.optim.AdamW])
def test_cache_follows_optimizer_steps(optimizer):
    neck = build_neck().eval()
    feats = torch.randn(2, 6, 3, 3)
    with torch.no_grad():
        before = neck(feats)
    neck.train()
    opt = optimizer(neck.parameters(), lr=0.5)
    neck(feats).sum().backward()
    opt.step()
    neck.eval()
    with torch.no_grad():
        after = neck(feats)
        expected = feats * reference_weights(neck).view(1, 6, 1, 1)
    torch.testing.assert_close(after, expected)
    assert not torch.allclose(before, after)
    # an in-place step while staying in eval mode bumps the version counter
    neck(feats).sum().backward()  # autograd on: computed fresh, with grads
    assert neck.graph1.weight.grad is not None
    opt.step()
    with torch.no_grad():
        stepped = neck(feats)
        expected = feats * reference_weights(neck).view(1, 6, 1, 1)
    torch.testing.assert_close(stepped, expected)


def test_cache_cleared_by_mode_switch_after_data_writes():
    """MMEngine's EMA hook swaps weights through ``.data`` (no version bump)
    right before ``model.eval()``: the mode switch must drop the cache."""
    neck = build_neck().eval()
    feats = torch.randn(2, 6, 3, 3)
    with torch.no_grad():
        neck(feats)
        neck.graph2.weight.data.mul_(-1.0)
        neck.eval()
        swapped = neck(feats)
        expected = feats * reference_weights(neck).view(1, 6, 1, 1)
    torch.testing.assert_close(swapped, expected)


# ------------------------------------------------------------------ tool
def load_tool():
    spec = importlib.util.spec_from_file_location(
        'build_label_graph', REPO / 'tools' / 'build_label_graph.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_build_label_graph_tool(tmp_path):
    data_list = [
        dict(img_path=f'{i}.jpg', gt_label=labels, gt_ignore=[])
        for i, labels in enumerate(TOY_LABELS)
    ]
    data_list[3]['gt_ignore'] = [0]  # ignored labels are not counted
    ann = dict(
        metainfo=dict(classes=['a', 'b', 'c', 'd']), data_list=data_list)
    (tmp_path / 'ann.json').write_text(json.dumps(ann))
    (tmp_path / 'cfg.py').write_text(
        'train_dataloader = dict(dataset=dict(type="MultiLabelDataset", '
        f'ann_file="{tmp_path / "ann.json"}", data_root="{tmp_path}", '
        'pipeline=[dict(type="LoadImageFromFile")]))\n')
    out = tmp_path / 'out' / 'graph.npz'
    load_tool().main([str(tmp_path / 'cfg.py'), '--out', str(out)])
    with np.load(out) as data:
        np.testing.assert_array_equal(data['adj'], TOY_ADJ)
        np.testing.assert_array_equal(data['nums'], TOY_NUMS)
        assert data['classes'].tolist() == ['a', 'b', 'c', 'd']
    # the neck reads the written file
    neck = build_neck(cooccurrence=str(out))
    np.testing.assert_allclose(neck.adjacency.numpy(),
                               build_label_graph(TOY_ADJ, TOY_NUMS))
    with pytest.raises(ValueError, match='.npz'):
        load_tool().main([str(tmp_path / 'cfg.py'), '--out', 'x.npy'])
    # --adjacency-out writes the normalised adjacency the neck reads ready
    adj_out = tmp_path / 'out' / 'graph.npy'
    load_tool().main([
        str(tmp_path / 'cfg.py'), '--out',
        str(out), '--adjacency-out',
        str(adj_out), '--p', '0.2'
    ])
    np.testing.assert_allclose(
        np.load(adj_out), build_label_graph(TOY_ADJ, TOY_NUMS, p=0.2))
    ready = build_neck(cooccurrence=None, adjacency=str(adj_out))
    np.testing.assert_allclose(ready.adjacency.numpy(), np.load(adj_out))
