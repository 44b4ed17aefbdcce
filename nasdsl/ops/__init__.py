"""What nasdsl knows about each op: torch-free signatures (`catalog`) and, importing torch,
the modules beyond `torch.nn` and the op builder (`modules`)."""
