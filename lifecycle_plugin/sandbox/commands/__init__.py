"""The `lifecycle-sandbox` commands, one module each (the parser is in sandbox/cli.py).

`common` sets up Django and prints; `steps` runs the engine's steps with timings;
`reports` prints what the store and the engine hold.
"""
