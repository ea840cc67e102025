"""Training: the GAN step, the loop (no Ray), Ray Train wiring, checkpoints, collapse detection.

    step.py          one iteration: D steps, G step, EMA (DDP-aware)
    loop.py          run_loop(job, env): iterate, monitor, checkpoint, resume -- in-process or in a Ray worker
    ray_trainer.py   TorchTrainer (Train V2) around run_loop; joins RAY_ADDRESS or starts a local Ray
    errors.py        InputError: an input no retry can fix;  ray_failures.py  Ray Train ends such a run at once
    run.py           train(spec, ...): naming/resume, MLflow run, launch, model selection (the stage's API)
    collapse.py      the collapse rules;  records.py  history and best-before-collapse selection
    checkpoint.py    checkpoint contents and local store;  env.py  rank/device/checkpoint I/O per launcher
    monitoring.py    spectra, IS/FID of G_ema, sample sheets;  outputs.py  the stage's files
"""
