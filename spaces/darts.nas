# DARTS (Liu, Simonyan & Yang, "DARTS: Differentiable Architecture Search", ICLR 2019), the
# CIFAR-10 space. Each cell has 2 inputs (the two previous cells) and 4 nodes; each node sums
# 2 ops, each op reads one earlier tensor and is one of 7 operations; the cell concatenates
# its 4 nodes. All normal cells share one architecture, all reduction cells another.
# Cell semantics follow NNI's Cell: labels normal.op_2_0, normal.input_2_0, ... reduce.op_5_1.
# The macro skeleton is the evaluation network of quark0/darts (NetworkCIFAR), shared with the
# NASNet-family spaces through spaces/nds_ops.nas.
param C = 36       # initial channels
param layers = 20  # cells; reduction cells at layers // 3 and 2 * layers // 3
param num_classes = 10
param in_channels = 3    # image channels
param resolution = 32    # image height and width
param auxiliary = false  # auxiliary head after the second reduction (training only)

import "nds_ops.nas"

block DartsOp(c, stride) = choice {
  max_pool_3x3: MaxPool(3, stride),
  avg_pool_3x3: AvgPool(3, stride),
  skip_connect: Skip(c, stride),
  sep_conv_3x3: SepConv(c, c, 3, stride, 1),
  sep_conv_5x5: SepConv(c, c, 5, stride, 2),
  dil_conv_3x3: DilConv(c, c, 3, stride, 2, 2),
  dil_conv_5x5: DilConv(c, c, 5, stride, 4, 2),
}

network(x: [in_channels, resolution, resolution]) {
  return NetworkCIFAR(DartsOp, 4, "all", C, layers, num_classes, auxiliary, in_channels)(x)
}
