# SPOS ShuffleNet (Guo et al., "Single Path One-Shot Neural Architecture Search with Uniform
# Sampling", ECCV 2020), as NNI's hub ShuffleNetSpace defines it. A ShuffleNetV2 backbone of
# 20 choice blocks in 4 stages (4, 4, 8, 4; the first block of each stage halves the
# resolution). Each block picks one of four ShuffleNetV2 units: k3, k5, k7 (1x1, kxk depthwise,
# 1x1) or xcep (three 3x3 depthwise + 1x1 pairs). With `channel_search`, each block also picks
# its mid width (the output of its first 1x1 conv, shared by the four units) from 0.2x to
# 1.6x of half the block's output width, as in the paper's channel search.
# Size: 4^20 = 1,099,511,627,776 (NNI's default, channel_search=False); with channel search
# (4 * 8)^20 = 32^20. No decision here is conditional, so our exact count and NNI's product of
# domain sizes agree. Labels: NNI's `layer_{n}` / `channel_{n}` (n = 1..20, global) are our
# `layer.{s}.{b}` / `channel.{s}.{b}` (stage s = 0..3, block b = 0.. within the stage).
param stem = 16                     # channels of the first conv
param widths = [64, 160, 320, 640]  # output channels of the four stages
param repeats = [4, 4, 8, 4]        # choice blocks per stage
param last = 1024                   # channels of the last 1x1 conv
param num_classes = 1000
param resolution = 224
param in_channels = 3  # image channels
param channel_search = false
param affine = true

# Batch norms inside the blocks are affine unless `affine` is false (NNI's argument).
block DW(c, k, stride) =
  Conv2d(c, c, k, stride, k // 2, groups=c, bias=false) -> BatchNorm2d(c, affine=affine)

block PW(c_in, c_out) =
  Conv2d(c_in, c_out, 1, bias=false) -> BatchNorm2d(c_out, affine=affine) -> ReLU()

# The branch that computes: 1x1, kxk depthwise (strided), 1x1; or, Xception-like, three 3x3
# depthwise + 1x1 pairs. `mid` is the width of the first 1x1 conv (the channel search).
block Bottleneck(c, mid, c_out, k, stride) = PW(c, mid) -> DW(mid, k, stride) -> PW(mid, c_out)

block Xception(c, mid, c_out, stride) =
  DW(c, 3, stride) -> PW(c, mid) -> DW(mid, 3, 1) -> PW(mid, mid) -> DW(mid, 3, 1) -> PW(mid, c_out)

# A ShuffleNetV2 unit. Stride 1: the even channels pass through, the odd ones go through the
# main branch (NNI's channel shuffle + split). Stride 2: a depthwise + 1x1 projection of the
# whole input beside the main branch. The two are concatenated.
block Unit(c_in, c_out, mid, k, stride, xception)(x) {
  c = c_in if stride == 2 else c_in // 2  # channels into the main branch
  o = c_out - c                           # and out of it
  main = Xception(c, mid, o, stride) if xception else Bottleneck(c, mid, o, k, stride)
  halves = x -> ChannelShuffle(c) if stride == 1 else x  # [even channels, odd channels]
  shortcut = x -> DW(c, k, 2) -> PW(c, c) if stride == 2 else halves -> Narrow(1, 0, c)
  inner = x if stride == 2 else halves -> Narrow(1, c, c)
  return cat(shortcut, main(inner))
}

block ChoiceBlock(c_in, c_out, mid, stride) = choice {
  k3:   Unit(c_in, c_out, mid, 3, stride, false),
  k5:   Unit(c_in, c_out, mid, 5, stride, false),
  k7:   Unit(c_in, c_out, mid, 7, stride, false),
  xcep: Unit(c_in, c_out, mid, 3, stride, true),
}

network(x: [in_channels, resolution, resolution]) {
  first_conv = x -> Conv2d(in_channels, stem, 3, 2, 1, bias=false) -> BatchNorm2d(stem) -> ReLU()
  h, c_in = first_conv, stem
  for s in range(4) {
    base = widths[s] // 2  # mid channels at 1.0x
    for b in range(repeats[s]) {
      channel = choice[
        base // 5,
        base * 2 // 5,
        base * 3 // 5,
        base * 4 // 5,
        base,
        base * 6 // 5,
        base * 7 // 5,
        base * 8 // 5,
      ] if channel_search else base
      layer = ChoiceBlock(c_in, widths[s], channel, 2 if b == 0 else 1)
      h, c_in = layer(h), widths[s]
    }
  }
  conv_last = h -> Conv2d(c_in, last, 1, bias=false) -> BatchNorm2d(last, affine=affine) -> ReLU()
  classifier = conv_last -> AdaptiveAvgPool2d(1) -> Dropout(0.1) -> Flatten()
    -> Linear(last, num_classes, bias=false)
  return classifier
}
