"""Training: the GAN step, the loop (no Ray), Ray Train wiring, checkpoints, collapse detection.

    step.py          one iteration: D steps, G step, EMA (DDP-aware)
    loop.py          run_loop(job, env): iterate, monitor, checkpoint, resume -- in-process or in a Ray worker
    loop_env.py      what the loop needs from where it runs: rank, device, checkpoint I/O, collectives
    job.py           TrainJob: what a worker receives;  factories.py  its data stream and scorer, built in the worker
    ray_trainer.py   TorchTrainer (Train V2) around run_loop, on the Ray instance biggan.parallel.ray_session joined
    ray_cluster.py   a private Ray head node beside a command (`make repro`)
    errors.py        InputError: an input no retry can fix;  ray_failures.py  Ray Train ends such a run at once
    run.py           train(spec, ...): naming/resume, MLflow run, launch, model selection (the stage's API)
    reuse.py         hands a finished run out again when its configuration, code and inputs are unchanged
    collapse.py      the collapse rules;  history.py  metric history and best-before-collapse selection
    checkpoint.py    checkpoint contents and local store
    monitoring.py    spectra, IS/FID of G_ema, sample sheets;  outputs.py  the stage's files
"""
