r"""CSRA class score maps and attention maps over the input image.

`Residual Attention: A Simple but Effective Method for Multi-Label
Recognition <https://arxiv.org/abs/2108.02456>`_ (Zhu & Wu, ICCV 2021),
Sec. 3.2 and Fig. 1/5: every location :math:`j` of the last feature map is
scored by every class :math:`i` (of head :math:`h`),

.. math::
    s^h_{ij} = x_j^\top m^h_i / \lVert m^h_i \rVert,

and CSRA pools the scores with the class-specific attention

.. math::
    a^h_{ij} = \mathrm{softmax}_j(T\, s^h_{ij}) =
        \frac{\exp(T s^h_{ij})}{\sum_k \exp(T s^h_{ik})}.

:func:`compute_attention_maps` returns either map for the requested classes,
upsampled bilinearly from the ``(h, w)`` feature grid to the network input,
and :func:`show_attention` / :func:`save_attention_maps` overlay them on the
image (matplotlib, Agg backend) with a colour bar and the class name and
score in the title. ``tools/visualize_attention.py`` is the command line.

The image is read with the config's **test pipeline**, so the maps are drawn
on exactly the image the network saw (after the pipeline's resize). A path
is loaded by the pipeline's own loader (``LoadImageFromFile*``); a pipeline
without one, such as the in-memory ``MultiDigits`` demo's, gets a
``LoadImageFromFile`` prepended. An ``ndarray`` (H, W, 3, BGR as read by
mmcv) skips any loader. Only models whose head is a
:class:`~mmcsra.models.heads.CSRAHead` are supported.
"""
import copy
import math
import os
import os.path as osp
import re
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    'load_csra_model', 'build_image_pipeline', 'compute_attention_maps',
    'show_attention', 'save_attention_maps', 'attention_map_filename',
    'save_attention_grid'
]

#: Pixels of the title band above the image in a saved figure.
TITLE_PX = 40
#: Pixels of the colour-bar band right of the image in a saved figure.
COLORBAR_PX = 88
#: Resolution of saved figures; a power of 2 so pixel sizes are exact.
DPI = 128
#: Images whose short side is smaller are drawn enlarged by an integer zoom.
MIN_DISPLAY_SIDE = 256

_LOADERS = ('LoadImageFromFile', )


def _is_loader(transform: dict) -> bool:
    kind = transform.get('type', '')
    name = kind if isinstance(kind, str) else getattr(kind, '__name__', '')
    return name.split('.')[-1].startswith(_LOADERS)


def build_image_pipeline(pipeline_cfg: Sequence[dict], from_file: bool):
    """The test pipeline that turns one image into model inputs.

    Args:
        pipeline_cfg (Sequence[dict]): the config's test pipeline.
        from_file (bool): True for an image path: the pipeline must start
            with a ``LoadImageFromFile*`` transform, and
            ``LoadImageFromFile`` is prepended if it has none (the in-memory
            demo datasets). False for an array: loaders are removed.

    Returns:
        Callable: ``mmengine.dataset.Compose`` of the built transforms.
    """
    from mmengine.dataset import Compose
    from mmpretrain.registry import TRANSFORMS

    if isinstance(pipeline_cfg,
                  dict) or not isinstance(pipeline_cfg, Sequence):
        raise TypeError('the test pipeline must be a list of transform '
                        f'dicts, got {type(pipeline_cfg).__name__}')
    transforms = [copy.deepcopy(t) for t in pipeline_cfg]
    if from_file:
        if not transforms or not _is_loader(transforms[0]):
            transforms.insert(0, dict(type='LoadImageFromFile'))
    else:
        transforms = [t for t in transforms if not _is_loader(t)]
    return Compose([TRANSFORMS.build(t) for t in transforms])


def _test_pipeline_cfg(cfg) -> List[dict]:
    for key in ('test_dataloader', 'val_dataloader'):
        loader = cfg.get(key)
        if loader and loader.get('dataset', {}).get('pipeline') is not None:
            return list(loader['dataset']['pipeline'])
    if cfg.get('test_pipeline') is not None:
        return list(cfg['test_pipeline'])
    raise KeyError('the config has no test pipeline: expected '
                   'test_dataloader.dataset.pipeline (or val_dataloader / '
                   'test_pipeline)')


def _class_names_from_cfg(cfg) -> Optional[Tuple[str, ...]]:
    """Class names of the config's test dataset, without building it."""
    from mmpretrain.registry import DATASETS

    for key in ('test_dataloader', 'val_dataloader'):
        dataset = (cfg.get(key) or {}).get('dataset') or {}
        metainfo = dataset.get('metainfo') or {}
        if metainfo.get('classes'):
            return tuple(metainfo['classes'])
        kind = dataset.get('type')
        cls = DATASETS.get(kind) if isinstance(kind, str) else kind
        classes = getattr(cls, 'METAINFO', {}).get('classes')
        if classes:
            return tuple(classes)
    return None


def load_csra_model(config,
                    checkpoint: Optional[str] = None,
                    device: str = 'cpu',
                    cfg_options: Optional[dict] = None):
    """Build the config's model, load ``checkpoint`` and attach its metadata.

    The checkpoint is read with mmcsra's ``weights_only`` allow-list. Class
    names come from the checkpoint's ``meta.dataset_meta`` if present, else
    from the config's test dataset (its ``metainfo`` or its class's
    ``METAINFO``).

    Args:
        config (str | Config): model config.
        checkpoint (str, optional): weights; None keeps the initialisation.
        device (str): Defaults to ``'cpu'``.
        cfg_options (dict, optional): overrides merged into the config.

    Returns:
        tuple: ``(model, cfg)``; ``model.dataset_meta`` holds ``classes``
        (or is None) and ``model.test_pipeline_cfg`` the test pipeline.
    """
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint
    from mmpretrain.registry import MODELS

    cfg = config if isinstance(config, Config) else Config.fromfile(config)
    cfg = copy.deepcopy(cfg)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    model_cfg = copy.deepcopy(cfg.model)
    if cfg.get('data_preprocessor') is not None:  # as mmengine's Runner does
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    model = MODELS.build(model_cfg)
    meta = {}
    if checkpoint is not None:
        ckpt = load_checkpoint(
            model, checkpoint, map_location='cpu', strict=True)
        meta = ckpt.get('meta', {}) if isinstance(ckpt, dict) else {}
    dataset_meta = dict(meta.get('dataset_meta') or {})
    if not dataset_meta.get('classes'):
        classes = _class_names_from_cfg(cfg)
        if classes is not None:
            dataset_meta['classes'] = classes
    model.dataset_meta = dataset_meta or None
    model.test_pipeline_cfg = _test_pipeline_cfg(cfg)
    model.to(device).eval()
    return model, cfg


def _csra_head(model):
    from mmcsra.models.heads import CSRAHead

    head = getattr(model, 'head', None)
    if not isinstance(head, CSRAHead):
        raise TypeError(
            'CSRA attention maps need a model whose head is a CSRAHead '
            f'(model.head is {type(head).__name__}); for a GAP + linear '
            'classifier, see tools/retrofit_csra.py')
    return head


def _class_index(spec: Union[int, str], names: Optional[Sequence[str]],
                 num_classes: int) -> int:
    if isinstance(spec, str) and not spec.lstrip('-').isdigit():
        if names is None or spec not in names:
            raise ValueError(
                f'unknown class {spec!r}; known classes: '
                f'{list(names) if names else "none (give indices)"}')
        return list(names).index(spec)
    index = int(spec)
    if not 0 <= index < num_classes:
        raise ValueError(f'class index {index} out of range [0, '
                         f'{num_classes})')
    return index


def _feature_grid(x: torch.Tensor, num_locations: int,
                  input_hw: Tuple[int, int]) -> Tuple[int, int]:
    """(h, w) of the N locations: a feature map's size, or the patch grid
    of ``(B, N, D)`` tokens inferred from the input's aspect ratio."""
    if x.dim() == 4:
        return int(x.size(2)), int(x.size(3))
    height, width = input_hw
    stride = math.sqrt(height * width / num_locations)
    h, w = round(height / stride), round(width / stride)
    if h * w != num_locations:
        raise ValueError(
            f'cannot lay {num_locations} tokens out on a grid of the '
            f'{height}x{width} input; pass a (B, D, h, w) feature map '
            "(e.g. ViT out_type='featmap')")
    return h, w


@torch.no_grad()
def compute_attention_maps(model,
                           img: Union[str, np.ndarray],
                           pipeline=None,
                           classes: Optional[Sequence[Union[int, str]]] = None,
                           score_map: bool = False,
                           temperature: Optional[float] = None,
                           head: int = 0) -> dict:
    r"""Per-class CSRA maps of one image, upsampled to the network input.

    Args:
        model (ImageClassifier): a model with a ``CSRAHead`` (e.g. from
            :func:`load_csra_model`), in eval mode.
        img (str | ndarray): image path, or an ``(H, W, 3)`` uint8 BGR array.
        pipeline (list[dict] | Callable, optional): the test pipeline (a
            config list, or one built by :func:`build_image_pipeline`).
            Defaults to ``model.test_pipeline_cfg`` set by
            :func:`load_csra_model`.
        classes (Sequence[int | str], optional): class indices or names.
            None (default): the predicted classes (the head's ``thr`` /
            ``topk`` decision on its scores).
        score_map (bool): return the class score map
            :math:`s^h_{ij}` instead of the attention. Defaults to False.
        temperature (float, optional): attention temperature :math:`T > 0`
            (``float('inf')`` = one-hot arg-max); None (default) uses the
            head's own. Not allowed with ``score_map``.
        head (int): which of the CSRA heads (its own classifier and
            temperature). Defaults to 0 (T = 1 in the paper's tables).

    Returns:
        dict: ``maps`` (``{class index: (H, W) float32 array}``, in the
        requested order), ``scores`` (``(C,)`` sigmoid scores),
        ``predicted`` (list of predicted class indices), ``class_names``,
        ``image`` (``(H, W, 3)`` uint8 RGB network input), ``kind``
        (``'attention'`` or ``'score'``), ``temperature`` (the one used, or
        None for score maps), ``head`` and ``num_heads``.
    """
    csra_head = _csra_head(model)
    csra = csra_head.csra
    if score_map and temperature is not None:
        raise ValueError('temperature applies to attention maps, not to '
                         'score maps (score_map=True)')
    if isinstance(head, bool) or not isinstance(
            head, int) or not (0 <= head < csra.num_heads):
        raise ValueError(f'head must be an int in [0, {csra.num_heads}), '
                         f'got {head!r}')
    if temperature is not None:
        temperature = float(temperature)
        if math.isnan(temperature) or temperature <= 0:
            raise ValueError('temperature must be > 0 (inf = arg-max), got '
                             f'{temperature}')

    from_file = isinstance(img, (str, os.PathLike))
    if pipeline is None:
        pipeline = getattr(model, 'test_pipeline_cfg', None)
        if pipeline is None:
            raise ValueError('pass the test pipeline (or build the model '
                             'with load_csra_model)')
    if not callable(pipeline):
        pipeline = build_image_pipeline(pipeline, from_file)
    if from_file:
        if not osp.isfile(img):
            raise FileNotFoundError(f'image {img!r} does not exist')
        sample = dict(img_path=str(img))
    else:
        if not isinstance(img, np.ndarray) or img.ndim not in (2, 3):
            raise TypeError('img must be a path or an (H, W[, 3]) array, got '
                            f'{type(img).__name__}')
        sample = dict(
            img=img, img_shape=img.shape[:2], ori_shape=img.shape[:2])
    data = pipeline(sample)
    inputs = data['inputs']  # [3, H, W] (uint8 as packed)
    batch = model.data_preprocessor(
        dict(inputs=[inputs], data_samples=[data['data_samples']]), False)
    feats = model.extract_feat(batch['inputs'])
    prediction = csra_head.predict(feats, batch['data_samples'])[0]
    scores = prediction.pred_score.float().cpu().numpy()  # [C]
    predicted = [int(i) for i in prediction.pred_label.tolist()]

    x = csra_head.pre_logits(feats)
    if score_map:
        maps = csra.class_score_maps(x)[0, head]  # [C, N]
        used_t = None
    else:
        maps = csra.attention_maps(x, temperature)[0, head]  # [C, N]
        used_t = temperature if temperature is not None else \
            csra.temperatures[head]
    input_hw = tuple(batch['inputs'].shape[-2:])
    h, w = _feature_grid(x, maps.size(-1), input_hw)
    maps = F.interpolate(
        maps.float().view(1, -1, h, w),
        size=input_hw,
        mode='bilinear',
        align_corners=False)[0]  # [C, H, W]

    names = None
    if getattr(model, 'dataset_meta', None):
        names = model.dataset_meta.get('classes')
    num_classes = csra.num_classes
    if names is None or len(names) != num_classes:
        names = tuple(f'class_{i}' for i in range(num_classes))
    wanted = predicted if classes is None else [
        _class_index(c, names, num_classes) for c in classes
    ]

    image = inputs.detach().cpu().numpy()
    image = np.ascontiguousarray(np.transpose(image, (1, 2, 0)))  # [H, W, c]
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    image = image[..., ::-1]  # mmcv reads BGR; show RGB
    if image.dtype != np.uint8:
        image = np.clip(image, 0, 255).astype(np.uint8)
    return dict(
        maps=OrderedDict((i, maps[i].cpu().numpy()) for i in wanted),
        scores=scores,
        predicted=predicted,
        class_names=tuple(names),
        image=np.ascontiguousarray(image),
        kind='score' if score_map else 'attention',
        temperature=used_t,
        head=head,
        num_heads=csra.num_heads)


def _auto_zoom(height: int, width: int) -> int:
    return max(1, math.ceil(MIN_DISPLAY_SIDE / min(height, width)))


def show_attention(image: np.ndarray,
                   amap: np.ndarray,
                   title: str = '',
                   out_file: Optional[str] = None,
                   zoom: Optional[int] = None,
                   colorbar_label: str = '',
                   cmap: str = 'jet',
                   alpha: float = 0.5):
    """Overlay a map on an image, with a colour bar; optionally save a PNG.

    The figure is laid out in pixels: the image occupies exactly
    ``zoom * H`` by ``zoom * W`` pixels (nearest-neighbour enlargement),
    below a ``TITLE_PX`` title band and left of a ``COLORBAR_PX`` colour-bar
    band, so a saved PNG is ``(zoom * W + COLORBAR_PX)`` wide and
    ``(zoom * H + TITLE_PX)`` high.

    Args:
        image (ndarray): ``(H, W, 3)`` uint8 RGB or ``(H, W)`` grey.
        amap (ndarray): ``(H, W)`` map, same size as the image.
        title (str): figure title (may hold a line break).
        out_file (str, optional): write the figure there as PNG.
        zoom (int, optional): integer enlargement. Defaults to the smallest
            that makes the short side at least ``MIN_DISPLAY_SIDE`` (1 for
            images that large).
        colorbar_label (str): label of the colour bar.
        cmap (str): matplotlib colour map of the overlay. Default ``'jet'``.
        alpha (float): opacity of the overlay. Default 0.5.

    Returns:
        matplotlib.figure.Figure: the figure (not attached to pyplot).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    height, width = image.shape[:2]
    if amap.shape != (height, width):
        raise ValueError(f'map {amap.shape} and image {image.shape[:2]} '
                         'sizes differ')
    zoom = _auto_zoom(height, width) if zoom is None else int(zoom)
    if zoom < 1:
        raise ValueError(f'zoom must be an int >= 1, got {zoom}')
    img_w, img_h = zoom * width, zoom * height
    fig_w, fig_h = img_w + COLORBAR_PX, img_h + TITLE_PX
    fig = Figure(figsize=(fig_w / DPI, fig_h / DPI), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, img_w / fig_w, img_h / fig_h))
    ax.imshow(
        image,
        cmap='gray' if image.ndim == 2 else None,
        interpolation='nearest',
        aspect='auto')
    overlay = ax.imshow(
        amap, cmap=cmap, alpha=alpha, interpolation='nearest', aspect='auto')
    ax.set_axis_off()
    # the bar stops 6 px short of the image's ends so its end labels fit
    cax = fig.add_axes(
        ((img_w + 8) / fig_w, 6 / fig_h, 10 / fig_w, (img_h - 12) / fig_h))
    bar = fig.colorbar(overlay, cax=cax)
    bar.ax.tick_params(labelsize=6)
    if colorbar_label:
        bar.set_label(colorbar_label, fontsize=6)
    fig.text(0.5, 1 - 3 / fig_h, title, ha='center', va='top', fontsize=7)
    if out_file is not None:
        os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
        fig.savefig(out_file, dpi=DPI, format='png')
    return fig


def attention_map_filename(stem: str, class_name: str, kind: str, head: int,
                           temperature: Optional[float]) -> str:
    """``{stem}_{class}_attention_T{T}_h{head}.png`` or
    ``{stem}_{class}_score_h{head}.png`` (unsafe characters become ``-``).
    """
    safe = re.sub(r'[^A-Za-z0-9_.+-]+', '-', str(class_name)).strip('-')
    if kind == 'score':
        return f'{stem}_{safe}_score_h{head}.png'
    return f'{stem}_{safe}_attention_T{temperature:g}_h{head}.png'


def save_attention_maps(result: dict,
                        out_dir: str,
                        stem: str = 'image',
                        zoom: Optional[int] = None) -> Dict[int, str]:
    """Write one PNG per map of :func:`compute_attention_maps`' result.

    The title holds the class name and its score, and which map it is.

    Returns:
        dict: ``{class index: path of the PNG}``.
    """
    os.makedirs(out_dir, exist_ok=True)
    head, num_heads = result['head'], result['num_heads']
    if result['kind'] == 'score':
        what = f'score map s_ij, head {head} of {num_heads}'
        label = 'class score s_ij'
    else:
        what = (f'attention, T={result["temperature"]:g}, '
                f'head {head} of {num_heads}')
        label = 'attention softmax_j(T s_ij)'
    written = OrderedDict()
    for index, amap in result['maps'].items():
        name = result['class_names'][index]
        title = f'{name}: score {result["scores"][index]:.3f}\n{what}'
        path = osp.join(
            out_dir,
            attention_map_filename(stem, name, result['kind'], head,
                                   result['temperature']))
        show_attention(
            result['image'],
            amap,
            title,
            path,
            zoom=zoom,
            colorbar_label=label)
        written[index] = path
    return written


def save_attention_grid(results: Sequence[dict],
                        out_file: str,
                        panel_px: int = 128,
                        titles: Optional[Sequence[str]] = None,
                        cmap: str = 'jet',
                        alpha: float = 0.5,
                        colours: Optional[int] = 256) -> str:
    """One PNG of several images, each followed by its per-class maps.

    Row ``r`` shows the network input of ``results[r]`` (a
    :func:`compute_attention_maps` result), then one panel per map in its
    ``maps`` (the attention :math:`a^h_{ij}` or score map, overlaid as in
    :func:`show_attention`), titled with the class name and score. Rows with
    fewer maps leave blank panels.

    Args:
        results (Sequence[dict]): :func:`compute_attention_maps` outputs.
        out_file (str): the PNG to write (its folder is created).
        panel_px (int): side of one panel in pixels. Defaults to 128.
        titles (Sequence[str], optional): title of each row's image panel
            (e.g. its ground truth). Defaults to the predicted classes.
        cmap (str): colour map of the overlays. Defaults to ``'jet'``.
        alpha (float): opacity of the overlays. Defaults to 0.5.
        colours (int, optional): write the PNG with an adaptive palette of
            this many colours (2-256; about 3x smaller files, for docs);
            None: full RGB. Defaults to 256.

    Returns:
        str: ``out_file``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not results:
        raise ValueError('save_attention_grid needs at least one result')
    if colours is not None and not 2 <= colours <= 256:
        raise ValueError(f'colours must be in [2, 256] or None, got '
                         f'{colours}')
    if titles is not None and len(titles) != len(results):
        raise ValueError(f'{len(titles)} titles for {len(results)} rows')
    rows = len(results)
    cols = 1 + max(len(r['maps']) for r in results)
    title_px = 22  # two lines of 6 pt text
    fig = Figure(
        figsize=(cols * panel_px / DPI, rows * (panel_px + title_px) / DPI),
        dpi=DPI)
    FigureCanvasAgg(fig)
    cell_w, cell_h = 1 / cols, 1 / rows
    img_h = panel_px / (panel_px + title_px) * cell_h
    for r, result in enumerate(results):
        names = result['class_names']
        panels = [(result['image'], None, titles[r] if titles else ', '.join(
            names[i] for i in result['predicted']) or 'none')]
        panels += [(result['image'], amap,
                    f'{names[i]} {result["scores"][i]:.2f}')
                   for i, amap in result['maps'].items()]
        for c, (image, amap, title) in enumerate(panels):
            bottom = 1 - (r + 1) * cell_h
            ax = fig.add_axes((c * cell_w, bottom, cell_w, img_h))
            ax.imshow(image, interpolation='bilinear', aspect='auto')
            if amap is not None:
                ax.imshow(
                    amap,
                    cmap=cmap,
                    alpha=alpha,
                    interpolation='bilinear',
                    aspect='auto')
            ax.set_axis_off()
            fig.text(
                (c + 0.5) * cell_w,
                bottom + cell_h - 2 / (rows * (panel_px + title_px)),
                title,
                ha='center',
                va='top',
                fontsize=6)
    os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
    if colours is None:
        fig.savefig(out_file, dpi=DPI, format='png')
        return out_file
    import io

    from PIL import Image
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=DPI, format='png')
    buffer.seek(0)
    with Image.open(buffer) as img:
        img.convert('RGB').quantize(colors=colours).save(
            out_file, format='PNG', optimize=True)
    return out_file
