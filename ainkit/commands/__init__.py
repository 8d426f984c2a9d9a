"""Commands: the `ainkit` command, one module per sub-command."""
