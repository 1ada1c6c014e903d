"""Sub-commands of the `webstack` CLI; each module exposes register(subparsers)."""
