# The operations and the CIFAR skeleton shared by the NASNet-family cell spaces (NDS: Radosavovic
# et al., "On Network Design Spaces for Visual Recognition", ICCV 2019; NNI's hub nasnet.py).
# Each space lists its own candidates as a `choice { name: op }` over these blocks, under
# NNI's op names, and calls `NetworkCIFAR` with it.

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

block DilSepConv(c_in, c_out, k, stride, padding, dilation) =
  ReLU() -> Conv2d(c_in, c_in, k, stride, padding, dilation, groups=c_in, bias=false)
  -> Conv2d(c_in, c_in, 1, bias=false) -> BatchNorm2d(c_in) -> ReLU()
  -> Conv2d(c_in, c_in, k, 1, padding, dilation, groups=c_in, bias=false)
  -> Conv2d(c_in, c_out, 1, bias=false) -> BatchNorm2d(c_out)

# conv_kx1_1xk: a 1 x k then a k x 1 convolution (conv_3x1_1x3, conv_7x1_1x7)
block FactorizedConv(c, k, stride) =
  ReLU() -> Conv2d(c, c, [1, k], [1, stride], [0, k // 2], bias=false)
  -> Conv2d(c, c, [k, 1], [stride, 1], [k // 2, 0], bias=false) -> BatchNorm2d(c)

block Skip(c, stride) = Identity() if stride == 1 else FactorizedReduce(c, c)

block AvgPool(k, stride) = AvgPool2d(k, stride, k // 2, count_include_pad=false)

block MaxPool(k, stride) = MaxPool2d(k, stride, k // 2)

# One cell of quark0/darts and NNI: inputs are the two previous cells, each node sums 2 ops, each
# op reads one earlier tensor; in a reduction cell the ops reading a cell input stride (a normal
# cell's ops do not depend on their input, so the lambda takes none and each op is built once).
# All normal cells share one architecture (label "normal"), all reduction cells another ("reduce").
block NDSCell(op, c_pp, c_p, c, reduction, reduction_prev, nodes, merge) = cell(
  (lambda input: op(c, 2 if input < 2 else 1)) if reduction else lambda: op(c, 1),
  nodes=nodes,
  ops_per_node=2,
  predecessors=2,
  merge=merge,
  preprocess=[
    FactorizedReduce(c_pp, c) if reduction_prev else ReLUConvBN(c_pp, c, 1, 1, 0),
    ReLUConvBN(c_p, c, 1, 1, 0),
  ],
  label="reduce" if reduction else "normal",
)

block AuxiliaryHead(c, num_classes) =
  ReLU() -> AvgPool2d(5, 3, 0, count_include_pad=false) -> Conv2d(c, 128, 1, bias=false)
  -> BatchNorm2d(128) -> ReLU() -> Conv2d(128, 768, 2, bias=false) -> BatchNorm2d(768) -> ReLU()
  -> Flatten() -> Linear(768, num_classes)

# quark0/darts NetworkCIFAR (= NNI's NDS with dataset="cifar"): a 3C stem, `layers` cells, the
# width doubling at the reduction cells layers // 3 and 2 * layers // 3. A cell outputs
# c * merged_nodes(cell) channels: every node, or (merge="loose_end") the nodes no op reads.
# With `auxiliary`, a second head reads the second reduction cell (training only).
block NetworkCIFAR(op, nodes, merge, C, layers, num_classes, auxiliary, in_channels)(x) {
  stem = x -> Conv2d(in_channels, 3 * C, 3, padding=1, bias=false) -> BatchNorm2d(3 * C)
  s0, s1 = stem, stem
  c_pp, c_p, c = 3 * C, 3 * C, C
  reduction_prev = false
  aux_in, c_aux = stem, c_p
  for i in range(layers) {
    reduction = i == layers // 3 or i == 2 * layers // 3
    c = 2 * c if reduction else c
    cells = NDSCell(op, c_pp, c_p, c, reduction, reduction_prev, nodes, merge)
    s0, s1 = s1, cells(s0, s1)
    reduction_prev = reduction
    c_pp, c_p = c_p, c * merged_nodes(cells)
    aux_in, c_aux = (s1, c_p) if i == 2 * layers // 3 else (aux_in, c_aux)
  }
  classifier = s1 -> AdaptiveAvgPool2d(1) -> Flatten() -> Linear(c_p, num_classes)
  auxiliary_head = aux_in -> AuxiliaryHead(c_aux, num_classes) if auxiliary else classifier
  return (classifier, auxiliary_head) if auxiliary else classifier
}
