"""The run lifecycle below the actors: the run store (`store`), the Python API and the worker's entry point
(`runner`), evidence files (`evidence`), candle files (`datafiles`) and the numba warm-up (`warmup`)."""
