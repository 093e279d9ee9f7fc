"""Operator tools behind `spark backup`, `spark restore`, `spark audit` and `spark loadtest`."""
