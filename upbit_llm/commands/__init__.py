"""One module per `upbit-llm` subcommand: `add_arguments(parser)` and `run(args, settings) -> int`."""
