"""The local demo: which processes run (`children`), and the live status line (`status`)."""
