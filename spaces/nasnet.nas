# NASNet (Zoph, Vasudevan, Shlens & Le, "Learning Transferable Architectures for Scalable Image
# Recognition", CVPR 2018), the cell space as NNI's hub (nasnet.py, after NDS) defines it: 5
# nodes per cell, each summing 2 ops; each op reads one earlier tensor (the two previous cells
# or an earlier node) and is one of 13 operations; a cell concatenates its loose ends, the nodes
# no op reads, so its width (and the next cell's input) follows its input choices. All normal
# cells share one architecture, all reduction cells another: labels normal.op_2_0 ...
# reduce.input_6_1, NNI's with "." for "/" (NNI's input values are one-element lists).
# Differs from NNI's NASNet(): NNI also searches the width (16, 24, 32) and the number of cells
# (4, 8, 12, 16, 20), 15 times as many architectures; the paper searches the cell only, so C and
# layers are parameters here (NNI with int width and num_cells is this space, decision for
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

block NASNetOp(c, stride) = choice {
  skip_connect: Skip(c, stride),
  conv_3x1_1x3: FactorizedConv(c, 3, stride),
  conv_7x1_1x7: FactorizedConv(c, 7, stride),
  dil_conv_3x3: DilConv(c, c, 3, stride, 2, 2),
  avg_pool_3x3: AvgPool(3, stride),
  max_pool_3x3: MaxPool(3, stride),
  max_pool_5x5: MaxPool(5, stride),
  max_pool_7x7: MaxPool(7, stride),
  conv_1x1:     ReLUConvBN(c, c, 1, stride, 0),
  conv_3x3:     ReLUConvBN(c, c, 3, stride, 1),
  sep_conv_3x3: SepConv(c, c, 3, stride, 1),
  sep_conv_5x5: SepConv(c, c, 5, stride, 2),
  sep_conv_7x7: SepConv(c, c, 7, stride, 3),
}

network(x: [in_channels, resolution, resolution]) {
  return NetworkCIFAR(NASNetOp, 5, merge, C, layers, num_classes, auxiliary, in_channels)(x)
}
