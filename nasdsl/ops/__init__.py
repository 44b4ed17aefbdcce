"""What nasdsl knows about each op: one record per op (`catalog.OpSpec`: signature, shape and
cost rule, PyTorch builder, weight-entangled version), torch-free, with the rules in `rules`;
and, importing torch, nasdsl's own modules and the op builder (`modules`)."""
