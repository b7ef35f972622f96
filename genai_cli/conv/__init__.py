"""Convolution and pooling, made visible (`genai conv`).

ops.py      output sizes, cross-correlation (the "convolution" of CNNs), pooling, in NumPy
kernels.py  named kernels and kernels read from YAML/CSV files or a "1,0,-1;..." string
demo.py     the talk's 6x6 example
images.py   reading images, the built-in sample photo
figures.py  PNG figures (matplotlib, Agg), written atomically
cnn.py      small trained CNNs shipped with genai (safetensors), run in NumPy

No typer or rich here: usable as a library.
"""
