"""The `fraudwatch` command: thin entry points that wire settings, services and output."""
