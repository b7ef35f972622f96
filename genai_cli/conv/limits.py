"""Documented limits of `genai conv`, checked before any work starts (README.md, "How genai behaves").

Plain constants with no imports, so the config schema can use them for `conv.*` keys too:
a value from a config file is refused with the file and key, a flag with the flag's name.
"""

MAX_STRIDE = 256  # --stride / conv.stride: step of the kernel, in pixels
MAX_PADDING = 512  # --padding / conv.padding: rings of zeros around the image
MAX_POOL_SIZE = 256  # --pool-size / conv.pool_size: pooling window, in cells
MAX_KERNEL_SIDE = 64  # rows and columns of a kernel (named, --kernel-values, kernel file, or a CNN's conv layer)
MAX_KERNEL_FILE_BYTES = 1024 * 1024  # a YAML/CSV kernel file (a 64x64 kernel as text is under 100 KB)
MAX_IMAGE_PIXELS = 16 * 1024 * 1024  # conv apply / layers: pixels of the input image (4096 x 4096)
MAX_MULTIPLY_ADDS = 4_000_000_000  # conv apply: output cells x kernel cells x channels (a few seconds of NumPy)

# genai CNN files (`conv layers --model FILE`)
MAX_CNN_FILE_BYTES = 256 * 1024 * 1024  # the built-in digits-cnn is ~100 KB
MAX_CNN_LAYERS = 64  # entries in genai.layers
MAX_CNN_CHANNELS = 4096  # in/out channels of a conv2d, features of a linear layer
MAX_CNN_INPUT_SIDE = 1024  # genai.input height and width
MAX_CNN_SAMPLES = 10_000  # built-in sample inputs carried by the file
MAX_CNN_METADATA_BYTES = 1024 * 1024  # each JSON metadata value (genai.layers, genai.input ...)
MAX_CNN_METADATA_DEPTH = 16  # nesting of those JSON values
