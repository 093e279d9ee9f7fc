"""Operator tools behind `spark backup`, `spark restore`, `spark audit`, `spark loadtest`, and the server's handles:
its pid file (`pidfile`, written by `spark serve`) and what `spark status` and `spark reload` share (`control`)."""
