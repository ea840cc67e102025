"""Facts transcribed from the paper that config, models and report all read.

    tables.py  the published rows of Tables 1-3 (shown beside ours, never used as results)
    archs.py   the per-resolution layouts of G and D (BigGAN and BigGAN-deep)
"""
