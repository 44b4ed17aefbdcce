# AmoebaNet (Real, Aggarwal, Huang & Le, "Regularized Evolution for Image Classifier Architecture
# Search", AAAI 2019), the cell space as NNI's hub (nasnet.py, after NDS) defines it: 5 nodes
# per cell, each summing 2 ops; each op reads one earlier tensor and is one of 8 operations; a
# cell concatenates its loose ends (the nodes no op reads), so its width follows its input
# choices. All normal cells share one architecture, all reduction cells another (labels
# normal.op_2_0 ... reduce.input_6_1: NNI's with "." for "/").
# Differs from NNI's AmoebaNet(): NNI also searches the width (16, 24, 32) and the number of
# cells (4, 8, 12, 16, 20), 15 times as many architectures; the paper searches the cell only, so
# C and layers are parameters here (NNI with int width and num_cells is this space, decision for
# decision). Skeleton: quark0/darts NetworkCIFAR (spaces/nds_ops.nas); NNI's "cifar" NDS is the same.
param C = 36       # initial channels
param layers = 20  # cells; reduction cells at layers // 3 and 2 * layers // 3
param num_classes = 10
param in_channels = 3    # image channels
param resolution = 32    # image height and width
param auxiliary = false  # auxiliary head after the second reduction (training only)
# "loose_end" as the paper; "all" concatenates every node, a fixed width that darts, gumbel and
# proxyless need (they refuse loose ends: NNI's one-shot strategies silently use "all" instead)
param merge = "loose_end"

import "nds_ops.nas"

block AmoebaOp(c, stride) = choice {
  skip_connect:     Skip(c, stride),
  sep_conv_3x3:     SepConv(c, c, 3, stride, 1),
  sep_conv_5x5:     SepConv(c, c, 5, stride, 2),
  sep_conv_7x7:     SepConv(c, c, 7, stride, 3),
  avg_pool_3x3:     AvgPool(3, stride),
  max_pool_3x3:     MaxPool(3, stride),
  dil_sep_conv_3x3: DilSepConv(c, c, 3, stride, 2, 2),
  conv_7x1_1x7:     FactorizedConv(c, 7, stride),
}

network(x: [in_channels, resolution, resolution]) {
  return NetworkCIFAR(AmoebaOp, 5, merge, C, layers, num_classes, auxiliary, in_channels)(x)
}
