"""genlab's Slurm launcher: Hydra's submitit launcher with per-rank job records (see launcher.py)."""
