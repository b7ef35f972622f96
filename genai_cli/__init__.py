"""genai: run the ideas of an introductory generative-AI talk on your own machine."""

__version__ = "0.1.0"
