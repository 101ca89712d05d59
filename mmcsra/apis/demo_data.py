"""Multi-label photographs for the demo, composed from Tux Paint's photos.

No multi-label photo set ships in a package registry, so the demo composes
one (issue 18): photographed object instances with alpha cut-outs (Debian
``tuxpaint-stamps-default``) are pasted, 1 to 3 per image, on random crops of
photographed backgrounds (Debian ``tuxpaint-data``'s templates). Both
packages are GPL (stamps GPL-2, templates GPL-2+; Bill Kendrick et al.,
see their ``copyright`` files and :data:`LICENCES`).

The object instances (stamp files) of each class are split between train,
val and test **before** anything is composed, so the test images only show
objects that no training image shows: the demo measures recognition of
unseen instances, not memorised cut-outs. Mirrored copies of a stamp (Tux
Paint ships some, e.g. ``dumper_mirror.png``) count as one instance: files
that look like another file or its horizontal flip (24 x 24 thumbnails
within :data:`SAME_INSTANCE_TOLERANCE`) are grouped before the split.

Everything is deterministic given ``seed``. The output folder holds
``{split}/{index:05d}.jpg``, one annotation file per split (OpenMMLab 2.0
JSON ``{"metainfo": {"classes": [...]}, "data_list": [{"img_path", "gt_label"}]}``,
read by :class:`~mmcsra.datasets.MultiLabelFolder`),
``classes.txt``, and ``instances.json`` (which stamp files each split may
use, and which ones each image shows) so the split can be audited.
"""
import hashlib
import json
import os
import os.path as osp
import shutil
import subprocess
import tempfile
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

__all__ = [
    'DEMO_CLASSES', 'BACKGROUNDS', 'PACKAGES', 'LICENCES', 'find_tuxpaint',
    'fetch_tuxpaint', 'colour_share', 'looks_drawn', 'collect_instances',
    'split_instances', 'compose_split', 'write_annotations', 'compose_dataset'
]

#: Debian packages the photographs come from. Licences, from their
#: ``usr/share/doc/<package>/copyright`` files (bookworm): the stamps are
#: "GPL-2" (Bill Kendrick et al., 2002-2022; the text grants "version 2 or
#: any later version"), the templates (backgrounds) of ``tuxpaint-data``
#: "GPL-2+" (Bill Kendrick, 2002-2021).
PACKAGES = ('tuxpaint-stamps-default', 'tuxpaint-data')
LICENCES = {'tuxpaint-stamps-default': 'GPL-2', 'tuxpaint-data': 'GPL-2+'}

#: class -> stamp folders (relative to ``stamps/``, searched recursively,
#: ``cartoon`` sub-folders skipped). Only photographed stamps: the drawn
#: ones are removed by :data:`EXCLUDED_STAMPS` (checked by eye on contact
#: sheets of every stamp) and, as a guard for other package versions, by
#: :func:`looks_drawn`.
DEMO_CLASSES: Dict[str, Tuple[str, ...]] = {
    'bird': ('animals/birds', ),
    'mammal': ('animals/mammals', 'animals/marsupials'),
    'fish': ('animals/fish', ),
    'insect': ('animals/insects', ),
    'fruit': ('food/fruit', ),
    'vegetable': ('food/vegetables', ),
    'flower': ('plants/flowers', ),
    'tool': ('household/tools', ),
    'coin': ('symbols/money/us/coins', 'symbols/money/euro/coins',
             'symbols/money/canadian/coins', 'symbols/money/japanese'),
    'ball': ('sports', ),
}

#: stamps of those folders that are drawings, toys or not the class
EXCLUDED_STAMPS = frozenset({
    'animals/insects/bee.png',  # line drawing
    'animals/insects/fly.png',  # line drawing
    'animals/insects/Brown_slug.png',  # a mollusc, not an insect
    'animals/insects/Woodlouse.png',  # a crustacean, not an insect
    'animals/fish/lobster.png',  # a crustacean, not a fish
    'animals/fish/shrimp.png',  # a crustacean, not a fish
    'animals/mammals/hedgehog.png',  # drawing
    'animals/mammals/echidna.png',  # black silhouette
    'animals/mammals/aquatic/whale.png',  # a rendering, not a photograph
    'animals/mammals/bears/toys/edward_bear.png',  # a teddy bear
    'sports/rugby_goal_posts.png',  # not a ball
    'sports/tennis_racket.png',  # not a ball
    'sports/trophy_cup.png',  # not a ball
})

#: :func:`looks_drawn`: share of a stamp's opaque pixels covered by its
#: ``DRAWN_TOP_COLOURS`` most frequent colours (RGB quantised to 32 levels)
#: above which it is taken for a drawing. Photographs of the demo's stamps
#: reach at most 0.70 (a dark gorilla); the drawings bee, echidna and
#: hedgehog 0.91-1.0.
DRAWN_TOP_COLOURS = 8
DRAWN_COLOUR_SHARE = 0.75

#: background photographs (``templates/``) without any of the classes
#: (sheep, jellyfish, spider, corn are left out)
BACKGROUNDS = ('burnt_bark', 'cliff', 'lighthouse', 'mossy_bark', 'mossy_log',
               'mudstone', 'ocean_splash', 'ocean_waves', 'redwoods_above',
               'rocks', 'sun_behind_clouds', 'sun_behind_leaves',
               'trees_above', 'trees_at_dusk', 'wool_mill_machine')

SPLITS = ('train', 'val', 'test')


# ------------------------------------------------------------ the packages
def _is_tuxpaint_dir(path: str) -> bool:
    return (osp.isdir(osp.join(path, 'stamps', 'animals'))
            and osp.isdir(osp.join(path, 'templates')))


def default_cache_dir() -> str:
    """``$MMCSRA_CACHE`` or ``~/.cache/mmcsra``, then ``tuxpaint``."""
    root = os.environ.get('MMCSRA_CACHE') or osp.join(
        osp.expanduser('~'), '.cache', 'mmcsra')
    return osp.join(root, 'tuxpaint')


def fetch_tuxpaint(cache_dir: Optional[str] = None) -> str:
    """Download the two Debian packages and unpack them into ``cache_dir``.

    Runs ``apt-get download`` (no root needed; as root, ``apt-get update``
    first if the package lists are empty) and ``dpkg-deb -x``.

    Returns:
        str: the ``usr/share/tuxpaint`` folder inside ``cache_dir``.

    Raises:
        RuntimeError: ``apt-get``/``dpkg-deb`` are missing or fail; the
            message gives the commands to run by hand.
    """
    cache_dir = cache_dir or default_cache_dir()
    share = osp.join(cache_dir, 'usr', 'share', 'tuxpaint')
    if _is_tuxpaint_dir(share):
        return share
    manual = (f'apt-get download {" ".join(PACKAGES)} && for f in '
              f'tuxpaint*.deb; do dpkg-deb -x "$f" {cache_dir}; done')
    for tool in ('apt-get', 'dpkg-deb'):
        if shutil.which(tool) is None:
            raise RuntimeError(
                f'the demo photographs come from the Debian packages '
                f'{", ".join(PACKAGES)} (GPL), but `{tool}` is not on '
                f'PATH. Install tuxpaint-stamps-default and tuxpaint-data '
                f'(/usr/share/tuxpaint), or unpack the two .deb files into '
                f'{cache_dir} ({manual}), or pass --data-root')
    os.makedirs(cache_dir, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:

        def download():
            return subprocess.run(['apt-get', 'download', *PACKAGES],
                                  cwd=tmp,
                                  capture_output=True,
                                  text=True)

        proc = download()
        if proc.returncode != 0 and hasattr(os, 'geteuid') \
                and os.geteuid() == 0:
            subprocess.run(['apt-get', 'update'], capture_output=True)
            proc = download()
        if proc.returncode != 0:
            raise RuntimeError(
                f'`apt-get download {" ".join(PACKAGES)}` failed '
                f'({proc.stderr.strip()[-400:]}). Run `apt-get update` '
                f'(as root) and retry, or unpack the packages by hand: '
                f'{manual}')
        debs = sorted(f for f in os.listdir(tmp) if f.endswith('.deb'))
        for deb in debs:
            subprocess.run(['dpkg-deb', '-x',
                            osp.join(tmp, deb), cache_dir],
                           check=True,
                           capture_output=True)
    if not _is_tuxpaint_dir(share):
        raise RuntimeError(f'unpacked {PACKAGES} into {cache_dir}, but '
                           f'{share} has no stamps/ and templates/')
    return share


def find_tuxpaint(data_root: Optional[str] = None,
                  fetch: bool = True,
                  cache_dir: Optional[str] = None) -> str:
    """The ``tuxpaint`` share folder (with ``stamps/`` and ``templates/``).

    Looked for in this order: ``data_root`` (then nothing else), the
    installed packages (``/usr/share/tuxpaint``), the cache
    (:func:`default_cache_dir`), and with ``fetch`` a download
    (:func:`fetch_tuxpaint`).
    """
    if data_root is not None:
        for cand in (data_root, osp.join(data_root, 'usr', 'share',
                                         'tuxpaint')):
            if _is_tuxpaint_dir(cand):
                return cand
        raise FileNotFoundError(
            f'{data_root} has no stamps/animals and templates/ folders (nor '
            'usr/share/tuxpaint/...): it is not an unpacked '
            f'{" + ".join(PACKAGES)}')
    for cand in ('/usr/share/tuxpaint',
                 osp.join(cache_dir or default_cache_dir(), 'usr', 'share',
                          'tuxpaint')):
        if _is_tuxpaint_dir(cand):
            return cand
    if not fetch:
        raise FileNotFoundError(
            f'the Debian packages {", ".join(PACKAGES)} are neither '
            f'installed nor in {cache_dir or default_cache_dir()}')
    return fetch_tuxpaint(cache_dir)


# ------------------------------------------------------------ instances
#: mean absolute difference (0-255, 24 x 24 RGBA thumbnails) below which
#: two stamps are one instance (a mirrored copy differs by about 1)
SAME_INSTANCE_TOLERANCE = 4.0


def _thumbnail(path: str) -> np.ndarray:
    """24 x 24 RGBA thumbnail as float, to compare stamps."""
    from PIL import Image
    with Image.open(path) as img:
        return np.asarray(img.convert('RGBA').resize((24, 24)), np.float32)


def _same_instance(a: np.ndarray, b: np.ndarray) -> bool:
    """``b`` equals ``a`` or its mirror image, up to re-encoding noise."""
    return min(np.abs(a - b).mean(), np.abs(a - b[:, ::-1]).mean()) \
        < SAME_INSTANCE_TOLERANCE


def colour_share(path: str, top: int = DRAWN_TOP_COLOURS) -> float:
    """Share of the opaque pixels (alpha > 200) of an image covered by its
    ``top`` most frequent colours, RGB quantised to 32 levels a channel.

    Drawings are made of a few flat colours (share near 1); photographs
    spread over many (noise, shading, texture).
    """
    from PIL import Image
    with Image.open(path) as img:
        rgba = np.asarray(img.convert('RGBA'))
    pixels = rgba[rgba[..., 3] > 200][:, :3].astype(np.int64) // 8
    if len(pixels) == 0:
        return 1.0
    codes = (pixels[:, 0] * 32 + pixels[:, 1]) * 32 + pixels[:, 2]
    counts = np.sort(np.bincount(codes))[::-1]
    return float(counts[:top].sum() / counts.sum())


def looks_drawn(path: str) -> bool:
    """Whether a stamp is a drawing rather than a photograph
    (:func:`colour_share` above :data:`DRAWN_COLOUR_SHARE`)."""
    return colour_share(path) > DRAWN_COLOUR_SHARE


def collect_instances(
    tuxpaint_dir: str,
    classes: Optional[Dict[str, Sequence[str]]] = None
) -> Dict[str, List[List[str]]]:
    """Stamp files of each class, grouped into object instances.

    Returns:
        dict: class name -> list of instances, each a sorted list of stamp
        paths relative to ``stamps/`` (a file and its mirrored copies).

    Raises:
        FileNotFoundError: a class folder is missing or has no stamp.
    """
    classes = classes or DEMO_CLASSES
    stamps = osp.join(tuxpaint_dir, 'stamps')
    out = {}
    for name, folders in classes.items():
        files = []
        for folder in folders:
            top = osp.join(stamps, folder)
            if not osp.isdir(top):
                raise FileNotFoundError(f'class {name!r}: no folder {top}')
            for dirpath, dirnames, filenames in os.walk(top):
                dirnames[:] = sorted(d for d in dirnames if d != 'cartoon')
                for f in sorted(filenames):
                    rel = osp.relpath(osp.join(dirpath, f), stamps)
                    rel = rel.replace(os.sep, '/')
                    if f.lower().endswith('.png') and \
                            rel not in EXCLUDED_STAMPS and \
                            not looks_drawn(osp.join(stamps, rel)):
                        files.append(rel)
        if not files:
            raise FileNotFoundError(f'class {name!r}: no stamp in {folders}')
        groups: List[Tuple[np.ndarray, List[str]]] = []
        for rel in sorted(files):
            thumb = _thumbnail(osp.join(stamps, rel))
            for first, members in groups:
                if _same_instance(first, thumb):
                    members.append(rel)
                    break
            else:
                groups.append((thumb, [rel]))
        out[name] = [members for _, members in groups]
    return out


def split_instances(instances: Dict[str, List[List[str]]],
                    fractions: Sequence[float] = (0.6, 0.2, 0.2),
                    seed: int = 0) -> Dict[str, Dict[str, List[List[str]]]]:
    """Split each class's instances between train, val and test.

    Each class gets ``round(f * n)`` instances per split (at least one in
    every split; the rest goes to train), drawn by a seeded permutation.

    Returns:
        dict: split -> class -> instances (disjoint between splits).
    """
    if len(fractions) != 3 or min(fractions) <= 0:
        raise ValueError(f'fractions must be 3 positive numbers, got '
                         f'{fractions}')
    rng = np.random.default_rng(seed)
    out = {split: {} for split in SPLITS}
    for name in sorted(instances):
        groups = instances[name]
        if len(groups) < 3:
            raise ValueError(f'class {name!r} has {len(groups)} instances; '
                             'every split needs one')
        order = rng.permutation(len(groups))
        total = sum(fractions)
        n_val = max(1, int(round(fractions[1] / total * len(groups))))
        n_test = max(1, int(round(fractions[2] / total * len(groups))))
        n_train = len(groups) - n_val - n_test
        if n_train < 1:
            n_val, n_train = n_val - 1, 1
        bounds = {
            'train': (0, n_train),
            'val': (n_train, n_train + n_val),
            'test': (n_train + n_val, len(groups))
        }
        for split, (lo, hi) in bounds.items():
            out[split][name] = [groups[i] for i in order[lo:hi]]
    return out


# ------------------------------------------------------------ composing
def _load_rgba(path: str, max_side: int):
    """A stamp as RGBA, cropped to its opaque pixels and shrunk so that its
    longer side is at most ``max_side`` (cheaper resizing later)."""
    from PIL import Image
    with Image.open(path) as img:
        img = img.convert('RGBA')
    box = img.getchannel('A').point(lambda a: 255 if a > 16 else 0).getbbox()
    if box is not None:
        img = img.crop(box)
    scale = max_side / max(img.size)
    if scale < 1:
        img = img.resize((max(1, round(
            img.width * scale)), max(1, round(img.height * scale))),
                         Image.Resampling.LANCZOS)
    return img


def compose_split(tuxpaint_dir: str,
                  pools: Dict[str, List[List[str]]],
                  class_names: Sequence[str],
                  num_images: int,
                  out_dir: str,
                  image_size: int = 224,
                  object_scale: Tuple[float, float] = (0.25, 0.45),
                  max_objects: int = 3,
                  seed: int = 0,
                  progress: bool = False) -> List[dict]:
    """Compose ``num_images`` JPEGs into ``out_dir``.

    Each image: a random crop (a square of 40-100 % of the short side, at a
    random place, maybe mirrored) of a random background photo, resized to
    ``image_size``; then ``k`` ~ U{1..max_objects} distinct classes, each
    pasted once with its alpha: a random instance of the class's pool (one
    of its files), mirrored with probability 1/2, its longer side
    ``U(object_scale) * image_size``, at a random position that keeps the
    object inside the image; positions are re-drawn (up to 20 times) so
    that no two objects' boxes overlap by more than 30 % of the smaller.

    Returns:
        list[dict]: per image ``img`` (file name), ``labels`` (class
        names, sorted by class index) and ``objects`` (stamp files).
    """
    from PIL import Image
    rng = np.random.default_rng(seed)
    stamps = osp.join(tuxpaint_dir, 'stamps')
    present = [c for c in class_names if pools.get(c)]
    max_side = int(image_size * object_scale[1]) + 1
    cache: Dict[str, 'Image.Image'] = {}
    backgrounds = []
    for name in BACKGROUNDS:
        with Image.open(osp.join(tuxpaint_dir, 'templates',
                                 name + '.jpg')) as img:
            backgrounds.append(img.convert('RGB'))
    os.makedirs(out_dir, exist_ok=True)
    records = []
    indices = range(num_images)
    if progress:
        from mmengine.utils import track_iter_progress
        indices = track_iter_progress(list(indices))
    for index in indices:
        bg = backgrounds[rng.integers(len(backgrounds))]
        side = int(min(bg.size) * rng.uniform(0.4, 1.0))
        x0 = int(rng.integers(bg.width - side + 1))
        y0 = int(rng.integers(bg.height - side + 1))
        canvas = bg.crop((x0, y0, x0 + side, y0 + side)).resize(
            (image_size, image_size), Image.Resampling.BILINEAR)
        if rng.random() < 0.5:
            canvas = canvas.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        k = int(rng.integers(1, max_objects + 1))
        chosen = sorted(
            rng.choice(len(present), size=min(k, len(present)), replace=False))
        boxes, objects = [], []
        for ci in chosen:
            pool = pools[present[ci]]
            group = pool[rng.integers(len(pool))]
            rel = group[rng.integers(len(group))]
            if rel not in cache:
                cache[rel] = _load_rgba(osp.join(stamps, rel), max_side)
            obj = cache[rel]
            target = rng.uniform(*object_scale) * image_size
            scale = target / max(obj.size)
            obj = obj.resize((max(1, round(
                obj.width * scale)), max(1, round(obj.height * scale))),
                             Image.Resampling.BILINEAR)
            if rng.random() < 0.5:
                obj = obj.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            for _ in range(20):
                x = int(rng.integers(image_size - obj.width + 1))
                y = int(rng.integers(image_size - obj.height + 1))
                box = (x, y, x + obj.width, y + obj.height)
                if all(_overlap(box, other) <= 0.3 for other in boxes):
                    break
            boxes.append(box)
            canvas.paste(obj, (x, y), obj)
            objects.append(rel)
        name = f'{index:05d}.jpg'
        canvas.save(osp.join(out_dir, name), quality=90)
        records.append(
            dict(
                img=name,
                labels=[present[ci] for ci in chosen],
                objects=objects))
    return records


def _overlap(a, b) -> float:
    """Intersection of two boxes over the smaller box's area."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return w * h / smaller


def write_annotations(records: List[dict], class_names: Sequence[str],
                      path_prefix: str, ann_base: str) -> str:
    """Write one split's OpenMMLab 2.0 annotation file (read by
    ``MultiLabelFolder``); returns its path, ``ann_base + '.json'``."""
    index = {c: i for i, c in enumerate(class_names)}
    path = ann_base + '.json'
    with open(path, 'w') as f:
        json.dump(
            dict(
                metainfo=dict(classes=list(class_names)),
                data_list=[
                    dict(
                        img_path=f"{path_prefix}/{r['img']}",
                        gt_label=[index[c] for c in r['labels']])
                    for r in records
                ]), f)
    return path


def compose_dataset(out_dir: str,
                    num_images: Dict[str, int],
                    tuxpaint_dir: Optional[str] = None,
                    image_size: int = 224,
                    object_scale: Tuple[float, float] = (0.25, 0.45),
                    max_objects: int = 3,
                    fractions: Sequence[float] = (0.6, 0.2, 0.2),
                    seed: int = 0,
                    progress: bool = False) -> dict:
    """Compose the train/val/test images and annotation files.

    A finished folder whose ``instances.json`` records the same settings is
    reused as it is (composing is deterministic).

    Args:
        out_dir (str): output folder.
        num_images (dict): images per split, e.g. ``dict(train=1200,
            val=400, test=400)``.
        tuxpaint_dir (str, optional): the unpacked ``tuxpaint`` share folder
            (default: :func:`find_tuxpaint`).
        image_size (int): side of the square images (>= 224 for the demo).
        object_scale (tuple): range of an object's longer side, as a
            fraction of ``image_size``.
        max_objects (int): at most this many objects (distinct classes) per
            image; at least one.
        fractions (tuple): train/val/test shares of each class's instances.
        seed (int): seed of the instance split and of the composition.
        progress (bool): progress bar per split.

    Returns:
        dict: ``data_root``, ``classes``, ``ann_files`` (split -> path),
        ``instances`` (split -> class -> stamp groups), ``seconds``.
    """
    import time
    start = time.time()
    tuxpaint_dir = tuxpaint_dir or find_tuxpaint()
    settings = dict(
        num_images={s: int(num_images[s])
                    for s in SPLITS},
        image_size=int(image_size),
        object_scale=[float(v) for v in object_scale],
        max_objects=int(max_objects),
        fractions=[float(v) for v in fractions],
        seed=int(seed),
        classes={
            k: list(v)
            for k, v in DEMO_CLASSES.items()
        },
        excluded=sorted(EXCLUDED_STAMPS),
        drawn=[DRAWN_TOP_COLOURS, DRAWN_COLOUR_SHARE],
        backgrounds=list(BACKGROUNDS))
    key = hashlib.sha256(json.dumps(settings,
                                    sort_keys=True).encode()).hexdigest()[:16]
    manifest_path = osp.join(out_dir, 'instances.json')
    if osp.isfile(manifest_path):
        with open(manifest_path) as f:
            manifest = json.load(f)
        if manifest.get('key') == key and all(
                osp.isfile(osp.join(out_dir, p))
                for p in manifest['ann_files'].values()):
            return dict(
                data_root=out_dir,
                classes=manifest['classes'],
                ann_files={
                    s: osp.join(out_dir, p)
                    for s, p in manifest['ann_files'].items()
                },
                instances=manifest['instances'],
                seconds=time.time() - start,
                reused=True)
    class_names = list(DEMO_CLASSES)
    instances = collect_instances(tuxpaint_dir)
    splits = split_instances(instances, fractions, seed)
    ann_files, images = {}, {}
    for i, split in enumerate(SPLITS):
        records = compose_split(
            tuxpaint_dir,
            splits[split],
            class_names,
            num_images[split],
            osp.join(out_dir, split),
            image_size,
            object_scale,
            max_objects,
            seed=seed * 1000 + i + 1,
            progress=progress)
        path = write_annotations(records, class_names, split,
                                 osp.join(out_dir, split))
        ann_files[split] = osp.basename(path)
        images[split] = {r['img']: r['objects'] for r in records}
    with open(osp.join(out_dir, 'classes.txt'), 'w') as f:
        f.write('\n'.join(class_names) + '\n')
    manifest = dict(
        key=key,
        settings=settings,
        classes=class_names,
        ann_files=ann_files,
        instances=splits,
        images=images,
        source=dict(packages=dict(LICENCES), tuxpaint_dir=tuxpaint_dir))
    with open(manifest_path, 'w') as f:
        json.dump(manifest, f, indent=1)
    return dict(
        data_root=out_dir,
        classes=class_names,
        ann_files={
            s: osp.join(out_dir, p)
            for s, p in ann_files.items()
        },
        instances=splits,
        seconds=time.time() - start,
        reused=False)
