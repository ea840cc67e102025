"""`source.train_images`: a small, class-balanced training set from the same split."""
from collections import Counter

from biggan.config.data import DigitsSource
from biggan.data.sources.digits_source import list_digits


def test_subset_keeps_every_class_and_leaves_the_split_alone():
    full = list_digits(DigitsSource(kind="digits"), "train")
    small = list_digits(DigitsSource(kind="digits", train_images=36), "train")
    counts = Counter(i.classes[0] for i in small.items)
    assert len(small.items) == 36 and set(counts) == set(range(10)) and max(counts.values()) - min(counts.values()) <= 1
    keys = [i.key for i in full.items]
    assert {i.key for i in small.items} <= set(keys)
    assert [i.key for i in small.items] == sorted((i.key for i in small.items), key=keys.index)
    val = [i.key for i in list_digits(DigitsSource(kind="digits", train_images=36), "val").items]
    assert val == [i.key for i in list_digits(DigitsSource(kind="digits"), "val").items]
