"""Datasets: sources, WebDataset sharding and the streaming training loader."""
