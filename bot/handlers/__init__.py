"""The `/credit` subcommands and the buttons on their replies: parse, call one ledger operation, render.

Slack (`bot.slack.listeners`) and the console (`bot.cli.console`) both answer through `run_line` and `run_action`, so a
behaviour is written once. Built-in handlers are installed by `builtin.install()`; other modules may register
their own with `registry.register_handler` / `registry.register_action`.
"""
