"""An ImageNet-style tree's classes come from its data, or from `source.synsets` (a subset).

The fake trees (tests/data/fakes.py) hold 3 classes; the count is whatever the tree holds, so
a tree of a few classes (or ImageNet-100) trains with n_classes equal to it.
"""
from __future__ import annotations

import pytest

from biggan.config import ConfigError, parse_params
from biggan.config.data import DatasetConfig
from biggan.config.params import known_num_classes
from biggan.data.items import SourceError
from biggan.data.sources import list_source
from tests.data import fakes
from tests.data.conftest import imagenet_config

SUBSET = [fakes.WNIDS[2], fakes.WNIDS[0]]          # given unsorted: indexed in sorted order


def listing(root, split, **source):
    return list_source(imagenet_config(root, source={"kind": "imagenet", "root": str(root), **source}).source,
                       split)


@pytest.mark.parametrize("layout", ["extracted", "archive"])
@pytest.mark.parametrize("split", ["train", "val"])
def test_synsets_keep_only_their_classes_in_both_layouts(request, layout, split):
    root = request.getfixturevalue(layout)
    full, sub = listing(root, split), listing(root, split, synsets=SUBSET)
    assert [c.id for c in sub.classes] == sorted(SUBSET)
    assert sub.notes == {"layout": layout, "classes_in_source": 3}
    keep = {fakes.WNIDS.index(w): sorted(SUBSET).index(w) for w in SUBSET}
    expect = [(i.key, (keep[i.classes[0]],)) for i in full.items if i.classes[0] in keep]
    assert [(i.key, i.classes) for i in sub.items] == expect
    assert len(sub.items) < len(full.items)


def test_an_unknown_synset_is_named(extracted):
    with pytest.raises(SourceError, match=r"source.synsets: 1 of the 2 wnids .*\['n09999999'\]"):
        listing(extracted, "train", synsets=[fakes.WNIDS[0], "n09999999"])


def test_val_images_outside_the_train_classes_point_to_synsets(extracted, tmp_path):
    # a tree holding 2 train classes but the whole val set: a subset nobody declared
    import shutil
    root = tmp_path / "tree"
    shutil.copytree(extracted, root)
    shutil.rmtree(root / "train" / fakes.WNIDS[1])
    with pytest.raises(SourceError, match="list them in source.synsets"):
        listing(root, "val")
    assert len(listing(root, "val", synsets=[fakes.WNIDS[0], fakes.WNIDS[2]]).items) == 4


@pytest.mark.parametrize("synsets,expect", [
    (["n0144076"], "not WordNet ids"), (["n01440764", "n01440764"], "repeated wnids"),
    ([], "at least 1 item")])
def test_bad_synsets_fail_validation(synsets, expect):
    with pytest.raises(ValueError, match=expect):
        imagenet_config("x", source={"kind": "imagenet", "root": "x", "synsets": synsets})


def _params(n_classes: int, **source) -> dict:
    return {"datasets": {"inet": {"source": {"kind": "imagenet", "root": "/data/imagenet", **source},
                                  "resolution": 32}},
            "model": {"resolution": 32, "ch": 4, "n_classes": n_classes, "attention": []},
            "variants": {"v": {"dataset": "inet"}}}


def test_class_count_is_the_trees_unless_synsets_declare_it():
    # without synsets no count is assumed (the train stage checks n_classes against the shards)
    assert known_num_classes(DatasetConfig.model_validate(_params(4)["datasets"]["inet"])) is None
    parse_params(_params(4))
    parse_params(_params(1000))
    parse_params(_params(2, synsets=SUBSET))
    with pytest.raises(ConfigError) as e:
        parse_params(_params(1000, synsets=SUBSET))
    assert e.value.problems == ["variants.v.model.n_classes: 1000, but dataset 'inet' has 2 classes"]
