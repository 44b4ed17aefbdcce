"""What nasdsl knows about each op: one record per op (`catalog.OpSpec`: signature, argument
domains, shape and cost rule, PyTorch builder, weight-entangled version, the passes' flags),
declared once in `catalog`, torch-free, with the rules in `rules` and the domains in
`domains`; and, importing torch, nasdsl's own modules and the op builder (`modules`)."""
