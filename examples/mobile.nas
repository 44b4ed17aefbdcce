# A tiny MobileNetV2-style space, annotated: value choices, expressions over choices,
# repeat with a chosen depth, nested choices and constraints.
# Try:  nasdsl info examples/mobile.nas      nasdsl sample examples/mobile.nas -n 3

param width = 16  # override with: nasdsl info examples/mobile.nas --set width=32
param num_classes = 10

# An inverted-residual block. `k` and `e` are choices made separately by every instance;
# `k // 2` stays tied to `k`, so padding follows the kernel the architecture picks.
block InvertedResidual(c_in, c_out, stride, k=choice[3, 5, 7], e=choice[3, 6]) =
  Conv2d(c_in, c_in * e, 1, bias=false) -> BatchNorm2d(c_in * e) -> ReLU6()
  -> Conv2d(c_in * e, c_in * e, k, stride, k // 2, groups=c_in * e, bias=false)
  -> BatchNorm2d(c_in * e) -> ReLU6() -> Conv2d(c_in * e, c_out, 1, bias=false)
  -> BatchNorm2d(c_out)

# A stage: 1 to 3 blocks; the block sees its index `i`, so only the first one strides.
block Stage(c_in, c_out, stride) = repeat(
  choice[1, 2, 3],
  lambda i: InvertedResidual(c_out if i > 0 else c_in, c_out, stride if i == 0 else 1),
)

block MLP(c_in, c_out, hidden=choice[64, 128]) =
  Linear(c_in, hidden) -> ReLU() -> Linear(hidden, c_out)

network(image: [3, 32, 32]) {
  stem = image -> Conv2d(3, width, 3, 1, 1, bias=false) -> BatchNorm2d(width) -> ReLU6()
  stage1 = stem -> Stage(width, width, 1)
  stage2 = stage1 -> Stage(width, 2 * width, 2)
  pooled = stage2 -> AdaptiveAvgPool2d(1) -> Flatten()
  # A nested choice: the MLP's hidden width exists only when the head is `mlp`.
  head = pooled -> choice {
    linear: Linear(2 * width, num_classes),
    mlp:    MLP(2 * width, num_classes),
  }
  return head
}

# Constraints name decisions by label (`nasdsl info` lists them) and are counted exactly:
forbid decision("stage1.depth") == 3 and decision("stage2.depth") == 3, "at most one deep stage"
require params <= 200000  # a budget: checked against the parameter count of each architecture
