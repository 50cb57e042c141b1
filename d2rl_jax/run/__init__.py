"""The run machinery (host side): the chunked runner and its multi-process helpers, sweeps and their grids,
the memory plan, checkpoints, the persistent cache, result files, summaries, statistics, TensorBoard logs,
retraining, timing."""
