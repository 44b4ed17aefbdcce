"""Lowerings of a `Space` to PyTorch: `discrete.build(space, arch)` for one architecture,
`supernet.build_supernet(space, strategy)` for one-shot search. Importing this package
imports torch; nothing else in nasdsl does."""
