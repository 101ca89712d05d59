"""Every metafile entry's ``Name`` is its config's file stem, and the config
exists (issue 15, "Naming"); every metafile is imported by model-index.yml."""
import os
import os.path as osp
import re

import pytest
import yaml

from utils import REPO, method_folders


def _imported_metafiles():
    with open(osp.join(REPO, 'model-index.yml')) as f:
        return yaml.safe_load(f)['Import']


def _entries():
    for metafile in _imported_metafiles():
        with open(osp.join(REPO, metafile)) as f:
            for entry in yaml.safe_load(f)['Models']:
                yield metafile, entry


def test_every_method_folder_has_an_imported_metafile():
    assert sorted(_imported_metafiles()) == [
        f'configs/{d}/metafile.yml' for d in method_folders()
    ]


@pytest.mark.parametrize('folder', method_folders())
def test_every_method_folder_has_a_readme_with_paper_vs_ours(folder):
    """Issue 15: each ``configs/<method>/README.md`` names its paper (an
    arXiv or DOI link) and has a "Paper vs ours" section."""
    path = osp.join(REPO, 'configs', folder, 'README.md')
    assert osp.isfile(path), f'configs/{folder}/ has no README.md'
    with open(path, encoding='utf-8') as f:
        text = f.read()
    assert re.search(r'^## Paper vs ours', text, re.M), path
    assert re.search(r'arxiv\.org/abs/|doi\.org/|openaccess\.thecvf', text),\
        f'{path} links no paper'


@pytest.mark.parametrize(
    'metafile,entry',
    list(_entries()),
    ids=lambda x: x['Name'] if isinstance(x, dict) else x)
def test_name_is_config_stem_and_config_exists(metafile, entry):
    config = entry['Config']
    assert osp.isfile(osp.join(REPO, config)), \
        f'{metafile}: {entry["Name"]} names {config}, which does not exist'
    # the config sits in the metafile's own method folder
    assert osp.dirname(config) == osp.dirname(metafile)
    stem = osp.splitext(osp.basename(config))[0]
    assert entry['Name'] == stem, f'{metafile}: Name {entry["Name"]!r} ' \
        f'is not the stem of {config}'


def test_names_follow_the_scheme_characters():
    """``{backbone}[-{variant}]_{dataset}``: lower case, digits, '-', '_'
    and '.' only, ending in a dataset segment."""
    for _, entry in _entries():
        assert re.fullmatch(r'[a-z0-9.\-]+(_[a-z0-9.\-]+)+', entry['Name']), \
            entry['Name']


#: the scheme of configs/README.md: {backbone}[-{variant}]_{dataset}
SCHEME = re.compile(r'[a-z0-9.]+(-[a-z0-9.]+)*_'
                    r'(voc|voc12|coco|wider|nuswide|cifar10|multidigits|'
                    r'tuxpaint)')
#: the older families configs/README.md lists, spelled
#: {backbone}_{variant}_{dataset}
LEGACY_FAMILIES = re.compile(
    r'(resnet18|resnet50|resnext50)_cat_(multidigits|voc|coco)'
    r'|efficientnetv2-s_(aam|mld-asl|mld-aam|mld-aam-paper|gat-aam|'
    r'gat-aam-paper)_(voc|coco|nuswide)'
    r'|attention(56|92)_csra_(multidigits|voc)')


def _config_stems():
    for folder in method_folders():
        for name in sorted(os.listdir(osp.join(REPO, 'configs', folder))):
            if name.endswith('.py'):
                yield f'{folder}/{name[:-3]}'


@pytest.mark.parametrize('path', list(_config_stems()))
def test_config_names_follow_the_scheme(path):
    stem = path.split('/')[1]
    assert SCHEME.fullmatch(stem) or LEGACY_FAMILIES.fullmatch(stem), (
        f'configs/{path}.py does not follow configs/README.md\'s naming '
        'scheme {backbone}[-{variant}]_{dataset}')


def test_the_scheme_check_can_fail():
    for bad in ('csra_resnet101_voc', 'resnet101_voc_448', 'ResNet_voc',
                'resnet101_imagenet', 'efficientnetv2-s_mld-aam_wider'):
        assert not (SCHEME.fullmatch(bad) or LEGACY_FAMILIES.fullmatch(bad))
