"""One module per ``spark`` subcommand; see `spark.cli.COMMANDS`."""
