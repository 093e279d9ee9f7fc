"""Plugin plumbing: every hook (`hookspecs`), the manager that loads plugins (`manager`), the feed contract
(`feeds`; the strategy contract is the engine's `spark.engine.StrategySpec`, which the engine runs), and what hooks
receive: the parsed run request (`request`) and the services protocol (`services`). Nothing here imports
`spark.service` or anything above it."""
