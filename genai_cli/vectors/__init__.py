"""Word vectors: loading (store), arithmetic (ops), evaluation, context matrices, plots, training."""
