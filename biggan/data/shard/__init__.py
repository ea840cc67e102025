"""Sharding into WebDataset tars: `biggan.data.shard.build.build_shards(dataset_config, split, out)`.

Nothing is imported here: worker processes import `process` alone, without the config stack.
"""
