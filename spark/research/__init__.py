"""Research drivers over the engine: parameter sweeps, search methods, walk-forward, executors (local pool, Ray)."""
