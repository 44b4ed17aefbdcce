# A small ENAS-macro-style space (Pham et al. 2018, Section 2.3), written with the loop
# constructs of the language: a list of layer outputs grown by appending, and from the second
# layer on an input choice over every earlier output that may also choose none (min=0).
param C = 8
param layers = 4
param in_channels = 3  # `nasdsl search --data digits` sets 1 and 8
param resolution = 16

block Op(c) = choice {
  conv_3x3: Conv2d(c, c, 3, padding=1, bias=false) -> BatchNorm2d(c) -> ReLU(),
  conv_5x5: Conv2d(c, c, 5, padding=2, bias=false) -> BatchNorm2d(c) -> ReLU(),
  max_pool: MaxPool2d(3, 1, 1),
}

network(x: [in_channels, resolution, resolution]) {
  stem = x -> Conv2d(in_channels, C, 3, padding=1, bias=false) -> BatchNorm2d(C)
  outs = [stem]  # outs[i]: output i (0: the stem)
  for i in range(layers) {
    y = outs[i] -> Op(C)  # labels y.0, y.1, ...
    if i > 0 {
      skip = pick(outs[1:i + 1], n="any", min=0, reduce="sum")  # skip.1, ...: [] is no skip
      y = y + skip
    }
    outs = outs + [y]
  }
  head = outs[-1] -> AdaptiveAvgPool2d(1) -> Flatten() -> Linear(C, 10)
  return head
}
