"""Latent sampling (truncation trick) and sample sheets."""
