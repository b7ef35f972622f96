"""The images to learn from: filtered, oriented, cropped to the model's resolution; their captions.

Every readable image in the folder is used (Pillow decides by content, not by file name). System
files (.DS_Store, Thumbs.db, hidden files such as ._* resource forks) are skipped silently; other files that are not
images are skipped with a warning that names them. A caption sidecar `NAME.txt` next to `NAME.png`
(the kohya-ss / EveryDream convention) replaces the prompt templates for that image: `{}` in it
marks where the new token goes, e.g. `a red {} on a white background`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from genai_cli.errors import UsageError

SYSTEM_FILES = {".ds_store", "thumbs.db", "desktop.ini"}
CAPTION_SUFFIX = ".txt"
MAX_IMAGES = 1000  # image files read from --images (3-5 is the usual; each is held in memory at full size)
MAX_CAPTION_BYTES = 4096  # a caption sidecar NAME.txt (one short line)

# The prompt templates of the textual-inversion paper (ImageNet-style), as in diffusers' example script.
OBJECT_TEMPLATES = [
    "a photo of a {}",
    "a rendering of a {}",
    "a cropped photo of the {}",
    "the photo of a {}",
    "a photo of a clean {}",
    "a photo of a dirty {}",
    "a dark photo of the {}",
    "a photo of my {}",
    "a photo of the cool {}",
    "a close-up photo of a {}",
    "a bright photo of the {}",
    "a cropped photo of a {}",
    "a photo of the {}",
    "a good photo of the {}",
    "a photo of one {}",
    "a close-up photo of the {}",
    "a rendition of the {}",
    "a photo of the clean {}",
    "a rendition of a {}",
    "a photo of a nice {}",
    "a good photo of a {}",
    "a photo of the nice {}",
    "a photo of the small {}",
    "a photo of the weird {}",
    "a photo of the large {}",
    "a photo of a cool {}",
    "a photo of a small {}",
]
STYLE_TEMPLATES = [
    "a painting in the style of {}",
    "a rendering in the style of {}",
    "a cropped painting in the style of {}",
    "the painting in the style of {}",
    "a clean painting in the style of {}",
    "a dirty painting in the style of {}",
    "a dark painting in the style of {}",
    "a picture in the style of {}",
    "a cool painting in the style of {}",
    "a close-up painting in the style of {}",
    "a bright painting in the style of {}",
    "a good painting in the style of {}",
    "a rendition in the style of {}",
    "a nice painting in the style of {}",
    "a small painting in the style of {}",
    "a weird painting in the style of {}",
    "a large painting in the style of {}",
]
TEMPLATES = {"object": OBJECT_TEMPLATES, "style": STYLE_TEMPLATES}


@dataclass
class Example:
    path: Path
    image: object  # the PIL RGB image, EXIF orientation applied
    caption: str | None = None  # from a sidecar file, with {} for the token; None: use the templates
    pixels: object = None  # after ImageFolder.fit: (3, R, R) float32 numpy array in [-1, 1]


@dataclass
class ImageFolder:
    examples: list[Example]
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # (file, why) for the warnings

    def fit(self, resolution: int) -> "ImageFolder":
        """Every image resized and centre-cropped to a `resolution` square -> example.pixels."""
        import numpy as np
        from PIL import Image, ImageOps

        for ex in self.examples:
            im = ImageOps.fit(ex.image, (resolution, resolution), Image.Resampling.BICUBIC)
            ex.pixels = np.asarray(im, dtype=np.float32).transpose(2, 0, 1) / 127.5 - 1.0  # (3, R, R)
        return self


def is_system_file(path: Path) -> bool:
    return path.name.lower() in SYSTEM_FILES or path.name.startswith(".")  # incl. ._* forks, our .tmp files


def load_folder(folder: Path, resolution: int | None = None) -> ImageFolder:
    """Read every image file of `folder` (not its subfolders) as RGB; with `resolution`, fit them too.

    Untrusted files are opened through genai_cli.files: a FIFO, socket or device is skipped without being
    opened (it could block forever), a decompression bomb is refused from its header, a truncated image is
    skipped; each with a warning naming it. A folder with no usable image is a UsageError naming the folder."""
    import stat

    from PIL import ImageOps

    from genai_cli.files import open_image

    if not folder.is_dir():
        raise UsageError(f"--images {folder}: not a folder", hint="give a folder holding 3-5 images of the concept")
    try:
        entries = sorted(p for p in folder.iterdir() if not is_system_file(p))
    except OSError as e:
        raise UsageError(f"--images {folder}: cannot list it ({e.strerror})") from None
    files: list[Path] = []
    skipped: list[tuple[Path, str]] = []
    for path in entries:
        try:
            mode = path.stat().st_mode
        except OSError as e:  # a dangling link, a file that vanished
            skipped.append((path, f"unreadable ({e.strerror})"))
            continue
        if stat.S_ISDIR(mode):
            continue  # subfolders are not read
        if not stat.S_ISREG(mode):
            skipped.append((path, "not a regular file (a pipe, socket or device)"))
            continue
        files.append(path)
    candidates = [p for p in files if p.suffix.lower() != CAPTION_SUFFIX]
    if len(candidates) > MAX_IMAGES:
        raise UsageError(
            f"--images {folder}: {len(candidates)} files, at most {MAX_IMAGES} images are read",
            hint="textual inversion needs 3-5 images (a style a few dozen); use a smaller folder",
        )
    examples: list[Example] = []
    image_stems = set()
    for path in files:
        try:
            im = open_image(path, "image")
            image = ImageOps.exif_transpose(im).convert("RGB")  # phones store rotation in EXIF; apply it
        except UsageError as e:
            if path.suffix.lower() == CAPTION_SUFFIX:
                continue  # a caption sidecar (or an orphan .txt, reported below)
            why = e.message.removeprefix(f"{path}: ")
            skipped.append((path, "not an image" if why.startswith("not an image") else why))
            continue
        except (OSError, ValueError) as e:  # EXIF or mode conversion of a broken file
            skipped.append((path, f"unreadable ({str(e).splitlines()[0][:80]})"))
            continue
        examples.append(Example(path, image))
        image_stems.add(path.stem)
    # caption sidecars; a .txt that belongs to no image is reported like any other non-image
    for ex in examples:
        side = ex.path.with_suffix(CAPTION_SUFFIX)
        if side.is_file():
            if side.stat().st_size > MAX_CAPTION_BYTES:
                raise UsageError(
                    f"caption file {side}: over {MAX_CAPTION_BYTES} bytes",
                    hint="a caption is one short line, like: a red {} on a white background",
                )
            text = side.read_text(encoding="utf-8", errors="replace").strip()
            if "{}" not in text:
                raise UsageError(
                    f"caption file {side} has no {{}} where the new token goes",
                    hint="write it like: a red {} on a white background",
                )
            try:
                text.format("x")
            except (IndexError, KeyError, ValueError):
                raise UsageError(f"caption file {side}: use {{}} once for the new word, and no other braces") from None
            ex.caption = text
    skipped += [(p, "not an image") for p in files if p.suffix.lower() == CAPTION_SUFFIX and p.stem not in image_stems]
    if not examples:
        why = "; ".join(f"{p.name}: {reason}" for p, reason in sorted(skipped))
        raise UsageError(
            f"no usable image in {folder}" + (f" (skipped {why})" if why else ""),
            hint="put 3-5 images (png, jpg, webp ...) of the concept in the folder",
        )
    result = ImageFolder(examples, sorted(skipped))
    return result.fit(resolution) if resolution else result
