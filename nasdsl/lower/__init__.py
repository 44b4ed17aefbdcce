"""Lowerings of a `Space` to PyTorch: `discrete.build(space, arch)` for one architecture (through
`nasdsl.resolve`), `export.export_source(space, arch)` for its standalone source, and
`supernet.build_supernet(space, mode)` for one-shot search.

This package imports torch. So do `nasdsl.ops.modules` (nasdsl's own modules), `nasdsl.checkpoint`
and the one-shot strategies; nothing else does: the front end, the IR, `Space`, the analysis,
the benchmark formats, `nasdsl.arch` and the multi-trial strategies run without torch
(tests/test_structure.py imports them in a fresh process and checks)."""
