# A small DARTS-style cell space, annotated: cell(...), input choices with pick(...),
# shared decisions and explicit labels.
# Try:  nasdsl info examples/cell.nas      nasdsl sample examples/cell.nas --seed 1

param C = 8

# One edge of a cell. `input` is the index of the tensor the edge reads (0 and 1 are the
# cell's inputs), so a reduction cell can stride only on those.
block EdgeOps(c, stride) = choice {
  conv3: ReLU() -> Conv2d(c, c, 3, stride, 1, bias=false) -> BatchNorm2d(c),
  pool:  MaxPool2d(3, stride, 1),
  skip:  Identity() if stride == 1 else FactorizedReduce(c, c),
}

# Each cell: 3 nodes; each node sums 2 ops; each op picks an operation and one earlier tensor.
# After a reduction cell, the older input s0 is twice as large: preprocess halves it.
# `label` ties all cells of one kind to one architecture (DARTS's normal and reduce cells).
block Cell(c, reduction, reduction_prev)(s0, s1) {
  nodes = cell(
    lambda input: EdgeOps(c, 2 if reduction and input < 2 else 1),
    nodes=3,
    ops_per_node=2,
    predecessors=2,
    merge="all",
    preprocess=[FactorizedReduce(c, c) if reduction_prev else Identity(), Identity()],
    postprocess=Conv2d(3 * c, c, 1),
    label="reduce" if reduction else "normal",
  )
  return s1, nodes(s0, s1)
}

network(x: [3, 16, 16]) {
  stem = x -> Conv2d(3, C, 3, padding=1, bias=false) -> BatchNorm2d(C)
  s0, s1 = Cell(C, false, false)(stem, stem)
  s0, s1 = Cell(C, true, false)(s0, s1)
  s0, s1 = Cell(C, false, true)(s0, s1)
  # An input choice: the head reads one or both of the last two states (any non-empty subset).
  features = pick(s0, s1, n="any", reduce="sum")
  logits = features -> AdaptiveAvgPool2d(1) -> Flatten() -> Linear(C, 10)
  return logits
}
