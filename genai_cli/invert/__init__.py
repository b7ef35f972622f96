"""Textual inversion: teach a Stable Diffusion model a new word from a few images.

Only the new token's embedding vector(s) train; the text encoder, U-Net and VAE stay frozen
(Gal et al. 2022, "An Image is Worth One Word"; the recipe of diffusers'
examples/textual_inversion/textual_inversion.py). Modules:

    settings.py    the run's settings, their documented limits, and the checks made before any weight loads
                   (the model's tokenizer and configs read alone: new word, init word, --num-vectors, --resolution)
    data.py        the image folder -> pixels, captions (templates or sidecar .txt files)
    embeddings.py  the learned file: diffusers and AUTOMATIC1111 layouts, written and read safely
    checkpoint.py  OUT/checkpoint/: written and swapped crash-safely, read back safely (weights_only, finite);
                   the resume fingerprint (RESUME_KEYS) and its comparison
    train.py       the training loop (accelerate), resume, NaN guard, validation
"""
