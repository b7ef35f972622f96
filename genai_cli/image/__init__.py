"""Image generation with Stable Diffusion pipelines: imagine (text to image), diffuse
(the forward noising process), and reading back what was written (info).

No typer or rich here: the command layer in genai_cli/commands/ binds progress callbacks.
"""
