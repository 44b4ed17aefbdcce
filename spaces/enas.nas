# ENAS micro space (Pham, Guan, Zoph, Le & Dean, "Efficient Neural Architecture Search via
# Parameter Sharing", ICML 2018, Section 2.4), as NNI's hub (nasnet.py, after NDS) defines it:
# 5 nodes per cell, each summing 2 ops; each op reads one earlier tensor and is one of 5
# operations; a cell concatenates its loose ends (the nodes no op reads), so its width follows
# its input choices. All normal cells share one architecture, all reduction cells another
# (labels normal.op_2_0 ... reduce.input_6_1: NNI's with "." for "/").
# Differs from NNI's ENAS(): NNI also searches the width (16, 24, 32) and the number of cells
# (4, 8, 12, 16, 20), 15 times as many architectures; the paper searches the cell only, so C and
# layers are parameters here (NNI with int width and num_cells is this space, decision for
# decision). Skeleton: quark0/darts NetworkCIFAR (spaces/nds_ops.nas); NNI's "cifar" NDS is the same.
# The macro space of the same paper is spaces/enas_macro.nas.
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

block ENASOp(c, stride) = choice {
  skip_connect: Skip(c, stride),
  sep_conv_3x3: SepConv(c, c, 3, stride, 1),
  sep_conv_5x5: SepConv(c, c, 5, stride, 2),
  avg_pool_3x3: AvgPool(3, stride),
  max_pool_3x3: MaxPool(3, stride),
}

network(x: [in_channels, resolution, resolution]) {
  return NetworkCIFAR(ENASOp, 5, merge, C, layers, num_classes, auxiliary, in_channels)(x)
}
