# DARTS (Liu, Simonyan & Yang, "DARTS: Differentiable Architecture Search", ICLR 2019), the
# CIFAR-10 space. Each cell has 2 inputs (the two previous cells) and 4 nodes; each node sums
# 2 ops, each op reads one earlier tensor and is one of 7 operations; the cell concatenates
# its 4 nodes. All normal cells share one architecture, all reduction cells another.
# Cell semantics follow NNI's Cell: labels normal.op_2_0, normal.input_2_0, ... reduce.op_5_1.
# The macro skeleton is the evaluation network of quark0/darts (NetworkCIFAR).
param C = 36       # initial channels
param layers = 20  # cells; reduction cells at layers/3 and 2*layers/3
param num_classes = 10
param auxiliary = false  # auxiliary head after the second reduction (training only)

block ReLUConvBN(c_in, c_out, k, stride, padding) =
  ReLU() -> Conv2d(c_in, c_out, k, stride, padding, bias=false) -> BatchNorm2d(c_out)

block SepConv(c_in, c_out, k, stride, padding) =
  ReLU() -> Conv2d(c_in, c_in, k, stride, padding, groups=c_in, bias=false)
  -> Conv2d(c_in, c_in, 1, bias=false) -> BatchNorm2d(c_in) -> ReLU()
  -> Conv2d(c_in, c_in, k, 1, padding, groups=c_in, bias=false)
  -> Conv2d(c_in, c_out, 1, bias=false) -> BatchNorm2d(c_out)

block DilConv(c_in, c_out, k, stride, padding, dilation) =
  ReLU() -> Conv2d(c_in, c_in, k, stride, padding, dilation, groups=c_in, bias=false)
  -> Conv2d(c_in, c_out, 1, bias=false) -> BatchNorm2d(c_out)

block DartsOp(c, stride) = choice {
  max_pool_3x3: MaxPool2d(3, stride, 1),
  avg_pool_3x3: AvgPool2d(3, stride, 1, count_include_pad=false),
  skip_connect: Identity() if stride == 1 else FactorizedReduce(c, c),
  sep_conv_3x3: SepConv(c, c, 3, stride, 1),
  sep_conv_5x5: SepConv(c, c, 5, stride, 2),
  dil_conv_3x3: DilConv(c, c, 3, stride, 2, 2),
  dil_conv_5x5: DilConv(c, c, 5, stride, 4, 2),
}

block DartsCell(c_pp, c_p, c, reduction, reduction_prev)(s0, s1) {
  nodes = cell(
    lambda input: DartsOp(c, 2 if reduction and input < 2 else 1),
    nodes=4,
    ops_per_node=2,
    predecessors=2,
    merge="all",
    preprocess=[
      FactorizedReduce(c_pp, c) if reduction_prev else ReLUConvBN(c_pp, c, 1, 1, 0),
      ReLUConvBN(c_p, c, 1, 1, 0),
    ],
    label="reduce" if reduction else "normal",
  )
  return s1, nodes(s0, s1)
}

block AuxiliaryHead(c, num_classes) =
  ReLU() -> AvgPool2d(5, 3, 0, count_include_pad=false) -> Conv2d(c, 128, 1, bias=false)
  -> BatchNorm2d(128) -> ReLU() -> Conv2d(128, 768, 2, bias=false) -> BatchNorm2d(768) -> ReLU()
  -> Flatten() -> Linear(768, num_classes)

network(x: [3, 32, 32]) {
  stem = x -> Conv2d(3, 3 * C, 3, padding=1, bias=false) -> BatchNorm2d(3 * C)
  s0, s1 = stem, stem
  c_pp, c_p, c = 3 * C, 3 * C, C
  reduction_prev = false
  aux_in, c_aux = stem, c_p
  for i in range(layers) {
    reduction = i == layers // 3 or i == 2 * layers // 3
    c = 2 * c if reduction else c
    cells = DartsCell(c_pp, c_p, c, reduction, reduction_prev)
    s0, s1 = cells(s0, s1)
    reduction_prev = reduction
    c_pp, c_p = c_p, 4 * c
    aux_in, c_aux = (s1, c_p) if i == 2 * layers // 3 else (aux_in, c_aux)
  }
  classifier = s1 -> AdaptiveAvgPool2d(1) -> Flatten() -> Linear(c_p, num_classes)
  auxiliary_head = aux_in -> AuxiliaryHead(c_aux, num_classes) if auxiliary else classifier
  return (classifier, auxiliary_head) if auxiliary else classifier
}
