"""Sources: list the images of one split with their labels and class map (`Listing`)."""
from __future__ import annotations

from biggan.config.data import DigitsSource, ImageFolderSource, ImageNetSource, ManifestSource
from biggan.data.items import Listing, SourceError, check_split


def list_source(source: DigitsSource | ImageNetSource | ImageFolderSource | ManifestSource,
                split: str) -> Listing:
    """Items of `split`, sorted by key, with unique keys, and the entries left out (links, unsafe
    archive members) sorted by where they are; SourceError on raw data that cannot be listed."""
    from biggan.data.sources.digits_source import list_digits
    from biggan.data.sources.folders import list_imagefolder
    from biggan.data.sources.imagenet import list_imagenet
    from biggan.data.sources.manifest import list_manifest

    check_split(split)
    listers = {"digits": list_digits, "imagenet": list_imagenet,
               "imagefolder": list_imagefolder, "manifest": list_manifest}
    listing = listers[source.kind](source, split)
    if not listing.items:
        raise SourceError(f"no images in the {split} split of this {source.kind} source")
    listing.items.sort(key=lambda it: it.key)
    listing.rejected.sort(key=lambda r: (r["source"], r["key"]))
    listing.check_keys()
    return listing


__all__ = ["Listing", "SourceError", "list_source"]
