# ENAS macro space (Pham et al., "Efficient Neural Architecture Search via Parameter Sharing",
# ICML 2018, Sections 2.3 and 3.2): a chain of `layers` layers; layer i applies one of 6 ops to
# layer i - 1 and adds any subset (possibly none) of the earlier outputs, the stem included,
# as skip connections: 6^12 * 2^66 = 1.6e29 networks at 12 layers, as the paper counts.
# "Possibly none" is one on/off choice per skip edge (labels skip.i.j: layer i reads output j,
# 0 being the stem), the controller's per-edge decision; pick(n="any") would forbid no skips.
# Skeleton of melodyguan/enas general_child.py in search mode: width C throughout (24 in the
# search; the final nets of the paper double it at each reduction and concatenate the skips
# through a 1x1 conv instead of summing them), a factorized reduction of every earlier output
# after layers layers // 3 - 1 and 2 * (layers // 3) - 1 (3 and 7). FactorizedReduce is
# DARTS's, which adds a leading ReLU to ENAS's. Unlike NNI's old example, conv layers have no
# bias, batch norms are affine and each reduced output has its own FactorizedReduce, as in
# the original.
param C = 24  # out_filters
param layers = 12
param num_classes = 10
param in_channels = 3  # image channels
param resolution = 32  # image height and width

block Conv1x1BNReLU(c) = Conv2d(c, c, 1, bias=false) -> BatchNorm2d(c) -> ReLU()

block ConvBranch(c, k) =
  Conv1x1BNReLU(c) -> Conv2d(c, c, k, padding=k // 2, bias=false) -> BatchNorm2d(c) -> ReLU()

block SepConvBranch(c, k) =
  Conv1x1BNReLU(c) -> Conv2d(c, c, k, padding=k // 2, groups=c, bias=false)
  -> Conv2d(c, c, 1, bias=false) -> BatchNorm2d(c) -> ReLU()

block ENASMacroOp(c) = choice {
  conv_3x3:     ConvBranch(c, 3),
  sep_conv_3x3: SepConvBranch(c, 3),
  conv_5x5:     ConvBranch(c, 5),
  sep_conv_5x5: SepConvBranch(c, 5),
  avg_pool_3x3: Conv1x1BNReLU(c) -> AvgPool2d(3, 1, 1, count_include_pad=false),
  max_pool_3x3: Conv1x1BNReLU(c) -> MaxPool2d(3, 1, 1),
}

block SkipEdge() = choice { off: Zero(), on: Identity() }

network(x: [in_channels, resolution, resolution]) {
  stem = x -> Conv2d(in_channels, C, 3, padding=1, bias=false) -> BatchNorm2d(C)
  outs = [stem]  # outs[j]: output j (0: the stem, i + 1: layer i)
  for i in range(layers) {
    op = outs[i] -> ENASMacroOp(C)
    for j in range(i) {
      skip = outs[j] -> SkipEdge()
      op = op + skip
    }
    outs = outs + [op -> BatchNorm2d(C)]
    pool = i == layers // 3 - 1 or i == 2 * (layers // 3) - 1
    reduced = []
    for j in range(i + 2) {
      reduce = outs[j] -> FactorizedReduce(C, C) if pool else outs[j]
      reduced = reduced + [reduce]
    }
    outs = reduced
  }
  classifier = outs[layers] -> AdaptiveAvgPool2d(1) -> Flatten()
    -> Linear(C, num_classes, bias=false)
  return classifier
}
