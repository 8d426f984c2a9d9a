"""Ground: what every other room stands on and that imports nothing else of the kit: paths, errors,
atomic writes, secret redaction, executors (local, SLURM), and the set-up script."""
