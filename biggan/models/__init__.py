"""BigGAN and BigGAN-deep generators and discriminators (model code only: no distribution, no tracking;
the per-resolution layouts are biggan.paper.archs)."""
from biggan.models.build import ModelSummary, build_discriminator, build_generator, summarize
from biggan.models.deep import DeepDiscriminator, DeepGenerator
from biggan.models.discriminator import Discriminator
from biggan.models.generator import Generator

__all__ = ["DeepDiscriminator", "DeepGenerator", "Discriminator", "Generator", "ModelSummary",
           "build_discriminator", "build_generator", "summarize"]
