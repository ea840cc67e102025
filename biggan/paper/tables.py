"""Published numbers of Brock, Donahue & Simonyan (ICLR 2019), transcribed from the paper's tables.

Only for side-by-side display: never used as results. itr_k is thousands of iterations:
"stable" rows ran to 1000k without collapse, otherwise the collapse iteration (mean, std
over seeds). Rows 1-4 of Table 1 are single runs; the others mean (std) over 8 seeds.
"""
from __future__ import annotations

# Table 1: ImageNet 128x128 ablations. key -> row
TABLE1 = {
    "sagan":              dict(batch=256, ch=64, params_m=81.5, shared=None, skip_z=None, ortho=None,
                               itr_k=1000, fid=18.65, is_=52.52, note="SA-GAN baseline"),
    "b512":               dict(batch=512, ch=64, params_m=81.5, shared=False, skip_z=False, ortho=False,
                               itr_k=1000, fid=15.30, is_=58.77, is_std=1.18),
    "b1024":              dict(batch=1024, ch=64, params_m=81.5, shared=False, skip_z=False, ortho=False,
                               itr_k=1000, fid=14.88, is_=63.03, is_std=1.42),
    "b2048":              dict(batch=2048, ch=64, params_m=81.5, shared=False, skip_z=False, ortho=False,
                               itr_k=732, fid=12.39, is_=76.85, is_std=3.83),
    "b2048_ch96":         dict(batch=2048, ch=96, params_m=173.5, shared=False, skip_z=False, ortho=False,
                               itr_k=295, itr_k_std=18, fid=9.54, fid_std=0.62, is_=92.98, is_std=4.27),
    "b2048_ch96_shared":  dict(batch=2048, ch=96, params_m=160.6, shared=True, skip_z=False, ortho=False,
                               itr_k=185, itr_k_std=11, fid=9.18, fid_std=0.13, is_=94.94, is_std=1.32),
    "b2048_ch96_skipz":   dict(batch=2048, ch=96, params_m=158.3, shared=True, skip_z=True, ortho=False,
                               itr_k=152, itr_k_std=7, fid=8.73, fid_std=0.45, is_=98.76, is_std=2.84),
    "b2048_ch96_ortho":   dict(batch=2048, ch=96, params_m=158.3, shared=True, skip_z=True, ortho=True,
                               itr_k=165, itr_k_std=13, fid=8.51, fid_std=0.32, is_=99.31, is_std=2.10),
    "b2048_ch64_ortho":   dict(batch=2048, ch=64, params_m=71.3, shared=True, skip_z=True, ortho=True,
                               itr_k=371, itr_k_std=7, fid=10.48, fid_std=0.10, is_=86.90, is_std=0.61),
}

# Table 2: ImageNet at several resolutions; each cell is (FID, IS).
#   no_trunc: z ~ N(0, I); min_fid: threshold with the best FID; valid_is: threshold whose IS
#   matches real validation data; max_is: threshold with the highest IS. `arch`: the model.arch
#   that builds the row's architecture (SN-GAN and SA-GAN: none here).
TABLE2 = {
    "sngan_128":       dict(model="SN-GAN", res=128, no_trunc=(27.62, 36.80)),
    "sagan_128":       dict(model="SA-GAN", res=128, no_trunc=(18.65, 52.52)),
    "biggan_128":      dict(model="BigGAN", arch="biggan", res=128, no_trunc=(8.7, 98.8),
                            min_fid=(7.7, 126.5), valid_is=(9.6, 166.3), max_is=(25, 206)),
    "biggan_256":      dict(model="BigGAN", arch="biggan", res=256, no_trunc=(8.7, 142.3),
                            min_fid=(7.7, 178.0), valid_is=(9.3, 233.1), max_is=(25, 291)),
    "biggan_512":      dict(model="BigGAN", arch="biggan", res=512, no_trunc=(8.1, 144.2),
                            min_fid=(7.6, 170.3), valid_is=(11.8, 241.4), max_is=(27.0, 275)),
    "biggan_deep_128": dict(model="BigGAN-deep", arch="biggan_deep", res=128, no_trunc=(5.7, 124.5),
                            min_fid=(6.3, 148.1), valid_is=(7.4, 166.5), max_is=(25, 253)),
    "biggan_deep_256": dict(model="BigGAN-deep", arch="biggan_deep", res=256, no_trunc=(6.9, 171.4),
                            min_fid=(7.0, 202.6), valid_is=(8.1, 232.5), max_is=(27, 317)),
    "biggan_deep_512": dict(model="BigGAN-deep", arch="biggan_deep", res=512, no_trunc=(7.5, 152.8),
                            min_fid=(7.7, 181.4), valid_is=(11.5, 241.5), max_is=(39.7, 298)),
}

# Table 3: JFT-300M at 256x256, scored with a JFT-trained Inception v2; sweep sigma 0..2.
TABLE3 = {
    "ch64_plain": dict(ch=64, params_m=317.1, shared=False, skip_z=False, ortho=False, fid=48.38, is_=23.27,
                       min_fid=(48.6, 23.1), max_is=(49.1, 23.9)),
    "ch64_full":  dict(ch=64, params_m=99.4, shared=True, skip_z=True, ortho=True, fid=23.48, is_=24.78,
                       min_fid=(22.4, 21.0), max_is=(60.9, 35.8)),
    "ch96_full":  dict(ch=96, params_m=207.9, shared=True, skip_z=True, ortho=True, fid=18.84, is_=27.86,
                       min_fid=(17.1, 23.3), max_is=(51.6, 38.1)),
    "ch128_full": dict(ch=128, params_m=355.7, shared=True, skip_z=True, ortho=True, fid=13.75, is_=30.61,
                       min_fid=(13.0, 28.0), max_is=(46.2, 47.8)),
}

PAPER_ROWS = {**{f"t1:{k}": v for k, v in TABLE1.items()}, **{f"t2:{k}": v for k, v in TABLE2.items()},
              **{f"t3:{k}": v for k, v in TABLE3.items()}}
