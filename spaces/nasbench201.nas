# NAS-Bench-201 (Dong & Yang, "NAS-Bench-201: Extending the Scope of Reproducible Neural
# Architecture Search", ICLR 2020). The cell is a DAG on 4 nodes; each of its 6 edges j -> i
# picks one of 5 operations, and every cell of the network uses the same choices:
# 5^6 = 15,625 architectures. The macro skeleton is AutoDL-Projects' TinyNetwork.
param C = 16  # channels of the first stage
param N = 5   # cells per stage
param num_classes = 10
param in_channels = 3  # image channels
param resolution = 32  # image height and width

block ReLUConvBN(c_in, c_out, k, stride, padding) =
  ReLU() -> Conv2d(c_in, c_out, k, stride, padding, bias=false) -> BatchNorm2d(c_out)

block Edge(c) = choice {
  none:         Zero(),
  skip_connect: Identity(),
  nor_conv_1x1: ReLUConvBN(c, c, 1, 1, 0),
  nor_conv_3x3: ReLUConvBN(c, c, 3, 1, 1),
  avg_pool_3x3: AvgPool2d(3, 1, 1, count_include_pad=false),
}

# `shared`: one decision per edge for the whole network (labels Cell.e1_0 ... Cell.e3_2).
shared block Cell(c)(n0) {
  e1_0 = Edge(c)
  e2_0 = Edge(c)
  e2_1 = Edge(c)
  e3_0 = Edge(c)
  e3_1 = Edge(c)
  e3_2 = Edge(c)
  n1 = e1_0(n0)
  n2 = e2_0(n0) + e2_1(n1)
  n3 = e3_0(n0) + e3_1(n1) + e3_2(n2)
  return n3
}

block ResidualBlock(c_in, c_out)(x) {
  conv_a = ReLUConvBN(c_in, c_out, 3, 2, 1)
  conv_b = ReLUConvBN(c_out, c_out, 3, 1, 1)
  downsample = AvgPool2d(2, 2) -> Conv2d(c_in, c_out, 1, bias=false)
  return downsample(x) + conv_b(conv_a(x))
}

network(x: [in_channels, resolution, resolution]) {
  stem = x -> Conv2d(in_channels, C, 3, padding=1, bias=false) -> BatchNorm2d(C)
  h = stem
  c_prev = C
  for i in range(3 * N + 2) {  # N cells, a residual reduction, N cells, ...
    c = C * 2 ** ((i + 1) // (N + 1))
    cells = ResidualBlock(c_prev, c) if (i + 1) % (N + 1) == 0 else Cell(c)
    h = cells(h)
    c_prev = c
  }
  lastact = h -> BatchNorm2d(c_prev) -> ReLU()
  global_pooling = lastact -> AdaptiveAvgPool2d(1) -> Flatten()
  classifier = global_pooling -> Linear(c_prev, num_classes)
  return classifier
}
