# A small DARTS-style space for quick searches on small images (digits, mnist5k): a stem,
# a normal cell, a reduction cell and a normal cell, all normal cells sharing one
# architecture and the reduction cell another. Each cell has 3 nodes; each node sums 2 ops,
# each op picking an operation and one earlier tensor. The parameters let `nasdsl search`
# fit the input and classes to the data (`--data digits` sets in_channels=1, resolution=8).
# Try:  nasdsl search examples/small_cell.nas --strategy darts --data digits --epochs 5 --retrain 10

param in_channels = 1
param resolution = 28
param num_classes = 10
param C = 16
param stem_stride = 1  # 2 halves the resolution before the cells (cheaper on 28x28 images)

block Ops(c, stride) = choice {
  conv3:   ReLU() -> Conv2d(c, c, 3, stride, 1, bias=false) -> BatchNorm2d(c),
  conv5:   ReLU() -> Conv2d(c, c, 5, stride, 2, bias=false) -> BatchNorm2d(c),
  maxpool: MaxPool2d(3, stride, 1),
  avgpool: AvgPool2d(3, stride, 1, count_include_pad=false),
  skip:    Identity() if stride == 1 else FactorizedReduce(c, c),
}

block Cell(c, reduction, reduction_prev)(s0, s1) {
  nodes = cell(
    lambda input: Ops(c, 2 if reduction and input < 2 else 1),
    nodes=3,
    ops_per_node=2,
    predecessors=2,
    merge="all",
    preprocess=[FactorizedReduce(c, c) if reduction_prev else Identity(), Identity()],
    postprocess=Conv2d(3 * c, c, 1, bias=false) -> BatchNorm2d(c),
    label="reduce" if reduction else "normal",
  )
  return s1, nodes(s0, s1)
}

network(x: [in_channels, resolution, resolution]) {
  stem = x -> Conv2d(in_channels, C, 3, stem_stride, 1, bias=false) -> BatchNorm2d(C)
  s0, s1 = Cell(C, false, false)(stem, stem)
  s0, s1 = Cell(C, true, false)(s0, s1)
  s0, s1 = Cell(C, false, true)(s0, s1)
  logits = s1 -> ReLU() -> AdaptiveAvgPool2d(1) -> Flatten() -> Linear(C, num_classes)
  return logits
}
