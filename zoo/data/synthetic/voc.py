"""A seeded, embedded Pascal VOC tree built from real images that ship in dependency wheels.

Backgrounds are random crops of shipped photos and textures. Objects are hard-edged shapes
filled with crops of shipped photos and textures, one VOC class name per shape category
(``SHAPES``): the names label shape categories, not photographed objects. Every object is
pasted by this code, so its mask is exact and so are the boxes and masks derived from it.

Layout (``generate``), image ids 000001..N shared by both trees:

- ``VOC2007``: JPEGImages, Annotations (devkit XML, 1-based inclusive boxes of the visible
  pixels), ImageSets/Main/{train,val,trainval,test}.txt.
- ``VOC2012``: the same JPEGImages and Annotations, SegmentationClass (VOC class index + 1,
  0 background, 255 border band) and SegmentationObject (instance k = k-th <object> of the
  XML) as VOC-palette PNGs, ImageSets/Segmentation/{train,val,trainval}.txt where train is
  VOC2007 trainval and val is VOC2007 test.

``python -m zoo.data.synthetic.voc --out fixtures/voc/data --images 200 --seed 0``
"""
from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from zoo import paths
from zoo.data.embedded.photos import wheel_file
from zoo.data.real.voc import IGNORE_INDEX, VOC_CLASSES, VocDetectionSet, VocSegmentationSet
from zoo.data.synthetic.cli import run_generator, tree_digest  # noqa: F401  (tree_digest: re-exported)

IMAGE_SIZE = (150, 200)  # (H, W): VOC's typical 375 x 500 at 0.4 scale
JPEG_QUALITY = 90
MAX_OBJECTS = 4
BORDER = 2                    # width in pixels of the 255 band on the background side of each object
MIN_IN_FRAME = 0.4            # at most 60% of an object may fall outside the image (truncated)
MIN_VISIBLE = 0.2             # of its in-frame pixels, an earlier object keeps at least this much unoccluded
MIN_PIXELS = 12               # smaller remnants are not annotated, so placements leaving them are redrawn
DIFFICULT_OCCLUSION = 0.5     # more than half of the in-frame pixels hidden: "heavily occluded"
DIFFICULT_AREA = 0.004        # fewer visible pixels than this fraction of the image: "tiny"
PLACEMENT_TRIES = 20
SIZE_RANGE = (0.1, 0.7)       # object's longest side as a fraction of min(H, W), log-uniform
STREAM_IMAGE, STREAM_SPLIT = 0, 1

# name: (package, file inside the installed package). Only images whose licence the installed package
# states (skimage.data docstrings, sklearn's images/README.txt); see fixtures/voc/README.md
SOURCES = {
    "astronaut": ("skimage", "data/astronaut.png"),
    "brick": ("skimage", "data/brick.png"),
    "chelsea": ("skimage", "data/chelsea.png"),
    "coffee": ("skimage", "data/coffee.png"),
    "grass": ("skimage", "data/grass.png"),
    "gravel": ("skimage", "data/gravel.png"),
    "horse": ("skimage", "data/horse.png"),
    "hubble_deep_field": ("skimage", "data/hubble_deep_field.jpg"),
    "rocket": ("skimage", "data/rocket.jpg"),
    "china": ("sklearn", "datasets/images/china.jpg"),
    "flower": ("sklearn", "datasets/images/flower.jpg"),
}
TEXTURES = ("brick", "grass", "gravel")  # greyscale; tinted when used
BACKGROUNDS = ("brick", "grass", "gravel", "coffee", "china", "hubble_deep_field")
SCREEN_CONTENT = ("astronaut", "rocket", "chelsea", "flower")
HORSE_COATS = ("chelsea", "coffee")
GLASS = ((40, 110, 50), (110, 60, 20), (150, 180, 200))
TERRACOTTA, LEAF = (180, 90, 50), (60, 140, 40)


@dataclass(frozen=True)
class Sprite:
    rgb: np.ndarray   # [h, w, 3] uint8
    mask: np.ndarray  # [h, w] bool, True where the shape is


@dataclass(frozen=True)
class SyntheticObject:
    name: str
    bbox: tuple[int, int, int, int]  # xmin, ymin, xmax, ymax: 1-based inclusive, of the visible pixels
    truncated: bool
    difficult: bool


@dataclass(frozen=True)
class Sample:
    image: np.ndarray      # [H, W, 3] uint8
    instances: np.ndarray  # [H, W] uint8: 0 background, k = objects[k - 1]; no border band
    objects: tuple[SyntheticObject, ...]


# ---- sources --------------------------------------------------------------------------------------------------------

def _source_path(name: str) -> Path:
    package, file = SOURCES[name]
    return wheel_file(package, file, "zoo/data/synthetic/voc.py", "fixtures/voc/README.md")


@lru_cache(maxsize=None)
def texture_source(name: str) -> Image.Image:
    with Image.open(_source_path(name)) as image:
        if name == "horse":  # RGBA silhouette, anti-aliased; flattened on white as skimage.data.horse does
            white = Image.new("RGBA", image.size, (255, 255, 255, 255))
            return Image.alpha_composite(white, image.convert("RGBA")).convert("L")
        return image.convert("L" if name in TEXTURES else "RGB")


@lru_cache(maxsize=1)
def _horse_mask() -> Image.Image:
    """The horse silhouette as a 0/255 mask cropped to its bounding box."""
    silhouette = np.array(texture_source("horse")) < 128
    ys, xs = np.nonzero(silhouette)
    return Image.fromarray(silhouette[ys.min():ys.max() + 1, xs.min():xs.max() + 1].astype(np.uint8) * 255)


def crop_texture(name: str, width: int, height: int, rng: np.random.Generator) -> Image.Image:
    """A random crop of a source with the aspect of width x height, resized to it, maybe mirrored."""
    image = texture_source(name)
    scale = rng.uniform(0.3, 1.0)
    fit = min(image.width / width, image.height / height)
    cw, ch = max(1, int(width * fit * scale)), max(1, int(height * fit * scale))
    x, y = int(rng.integers(0, image.width - cw + 1)), int(rng.integers(0, image.height - ch + 1))
    crop = image.crop((x, y, x + cw, y + ch)).resize((width, height), Image.Resampling.BILINEAR)
    return crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if rng.random() < 0.5 else crop


def tinted_texture(name: str, width: int, height: int, colour: Sequence[float], rng: np.random.Generator) -> np.ndarray:
    """A greyscale texture crop coloured so that its mean becomes ``colour``."""
    grey = np.asarray(crop_texture(name, width, height, rng), dtype=np.float64)
    rgb = grey[..., None] / max(grey.mean(), 1.0) * np.asarray(colour, dtype=np.float64)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def fill_texture(name: str, width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    if name in TEXTURES:
        return tinted_texture(name, width, height, rng.uniform(60, 200, size=3), rng)
    return np.asarray(crop_texture(name, width, height, rng).convert("RGB"))


# ---- shapes: one class name per shape category -----------------------------------------------------------------------

def _polygon_mask(width: int, height: int, polygons: Sequence[Sequence[tuple[float, float]]],
                  ellipses: Sequence[tuple[float, float, float, float]] = ()) -> np.ndarray:
    canvas = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    for polygon in polygons:
        draw.polygon(list(polygon), fill=255)
    for ellipse in ellipses:
        draw.ellipse(ellipse, fill=255)
    return np.array(canvas) > 0


def _bottle(size: int, rng: np.random.Generator) -> Sprite:
    """Upright bottle outline (body, shoulders, neck, lip) in tinted glass with a highlight stripe."""
    h, w = size, max(4, int(size * rng.uniform(0.28, 0.4)))
    neck, lip = w * 0.35, w * 0.45
    c = (w - 1) / 2
    outline = [(c - lip / 2, 0), (c + lip / 2, 0), (c + lip / 2, h * 0.05), (c + neck / 2, h * 0.05),
               (c + neck / 2, h * 0.22), (w - 1, h * 0.38), (w - 1, h - 1), (0, h - 1), (0, h * 0.38),
               (c - neck / 2, h * 0.22), (c - neck / 2, h * 0.05), (c - lip / 2, h * 0.05)]
    rgb = tinted_texture(str(rng.choice(TEXTURES)), w, h, GLASS[int(rng.integers(len(GLASS)))], rng).astype(np.int16)
    rgb[:, int(w * 0.2):max(int(w * 0.2) + 1, int(w * 0.3))] += 60
    return Sprite(np.clip(rgb, 0, 255).astype(np.uint8), _polygon_mask(w, h, [outline]))


def _horse(size: int, rng: np.random.Generator) -> Sprite:
    """The skimage horse silhouette (a drawn horse outline) filled with a photo crop."""
    silhouette = _horse_mask()
    scale = size / max(silhouette.size)
    w, h = max(2, round(silhouette.width * scale)), max(2, round(silhouette.height * scale))
    mask = np.array(silhouette.resize((w, h), Image.Resampling.BILINEAR)) >= 128
    if rng.random() < 0.5:
        mask = mask[:, ::-1]
    return Sprite(fill_texture(str(rng.choice(HORSE_COATS)), w, h, rng), mask)


def _pottedplant(size: int, rng: np.random.Generator) -> Sprite:
    """A terracotta trapezoid pot (brick texture) under a clump of ellipses of grass texture."""
    h, w = size, max(4, int(size * rng.uniform(0.6, 0.9)))
    top = h * rng.uniform(0.5, 0.65)
    pot = [(w * 0.2, top), (w * 0.8 - 1, top), (w * 0.68 - 1, h - 1), (w * 0.32, h - 1)]
    leaves = [(w * 0.2, top - h * 0.2, w * 0.8 - 1, top + 1)]  # the clump that sits on the pot
    for _ in range(int(rng.integers(3, 7))):
        cx, cy = rng.uniform(0.25, 0.75) * w, rng.uniform(0.2, 0.55) * h
        rx, ry = rng.uniform(0.12, 0.25) * w, rng.uniform(0.1, 0.2) * h
        leaves.append((max(0.0, cx - rx), max(0.0, cy - ry), min(w - 1.0, cx + rx), min(top, cy + ry)))
    pot_mask = _polygon_mask(w, h, [pot])
    rgb = np.where(pot_mask[..., None], tinted_texture("brick", w, h, TERRACOTTA, rng), tinted_texture("grass", w, h, LEAF, rng))
    return Sprite(rgb, pot_mask | _polygon_mask(w, h, [], leaves))


def _tvmonitor(size: int, rng: np.random.Generator) -> Sprite:
    """A dark bezel around a photo crop (the picture on the screen): a full rectangle."""
    w, h = size, max(4, int(size * rng.uniform(0.55, 0.8)))
    rgb = tinted_texture("gravel", w, h, [rng.uniform(15, 60)] * 3, rng)
    b = max(1, round(min(w, h) * 0.07))
    rgb[b:h - b, b:w - b] = fill_texture(str(rng.choice(SCREEN_CONTENT)), w - 2 * b, h - 2 * b, rng)
    return Sprite(rgb, np.ones((h, w), dtype=bool))


SHAPES: dict[str, Callable[[int, np.random.Generator], Sprite]] = {
    "bottle": _bottle, "horse": _horse, "pottedplant": _pottedplant, "tvmonitor": _tvmonitor,
}
CLASSES = tuple(SHAPES)


# ---- one image ------------------------------------------------------------------------------------------------------

def background(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    return fill_texture(str(rng.choice(BACKGROUNDS)), width, height, rng).copy()


def _placed(sprite: Sprite, height: int, width: int, rng: np.random.Generator) -> tuple[np.ndarray, slice, slice]:
    """The sprite's in-frame mask on the full canvas, and the sprite rows and columns that land in frame.

    The centre lands anywhere in the image, so objects may be truncated at the borders.
    """
    sh, sw = sprite.mask.shape
    top, left = int(rng.integers(0, height)) - sh // 2, int(rng.integers(0, width)) - sw // 2
    rows = slice(max(0, -top), min(sh, height - top))
    cols = slice(max(0, -left), min(sw, width - left))
    canvas = np.zeros((height, width), dtype=bool)
    if rows.start < rows.stop and cols.start < cols.stop:
        canvas[top + rows.start:top + rows.stop, left + cols.start:left + cols.stop] = sprite.mask[rows, cols]
    return canvas, rows, cols


def _acceptable(instances: np.ndarray, in_frame: np.ndarray, full_area: int, in_frame_areas: list[int]) -> bool:
    """Placing an object over ``in_frame`` keeps it and every earlier object annotatable."""
    if in_frame.sum() < max(MIN_PIXELS, MIN_IN_FRAME * full_area):
        return False
    remaining = np.bincount(instances[~in_frame], minlength=len(in_frame_areas) + 1)[1:]
    return all(left >= max(MIN_PIXELS, MIN_VISIBLE * area) for left, area in zip(remaining, in_frame_areas))


def _annotate(name: str, visible: np.ndarray, in_frame_area: int, full_area: int, image_area: int) -> SyntheticObject:
    ys, xs = np.nonzero(visible)
    occlusion = 1.0 - visible.sum() / in_frame_area
    difficult = occlusion > DIFFICULT_OCCLUSION or visible.sum() < DIFFICULT_AREA * image_area
    return SyntheticObject(name, (int(xs.min()) + 1, int(ys.min()) + 1, int(xs.max()) + 1, int(ys.max()) + 1),
                           truncated=in_frame_area < full_area, difficult=bool(difficult))


def render(index: int, seed: int, image_size: tuple[int, int] = IMAGE_SIZE) -> Sample:
    """Image ``index`` of the dataset of ``seed``: independent of how many images are generated."""
    height, width = image_size
    rng = np.random.default_rng([seed, index, STREAM_IMAGE])
    image = background(height, width, rng)
    instances = np.zeros((height, width), dtype=np.uint8)
    names, full_areas, in_frame_areas = [], [], []
    for _ in range(int(rng.integers(1, MAX_OBJECTS + 1))):
        for _ in range(PLACEMENT_TRIES):
            name = CLASSES[int(rng.integers(len(CLASSES)))]
            size = max(4, round(min(height, width) * np.exp(rng.uniform(*np.log(SIZE_RANGE)))))
            sprite = SHAPES[name](size, rng)
            in_frame, rows, cols = _placed(sprite, height, width, rng)
            if _acceptable(instances, in_frame, int(sprite.mask.sum()), in_frame_areas):
                image[in_frame] = sprite.rgb[rows, cols][sprite.mask[rows, cols]]
                instances[in_frame] = len(names) + 1
                names.append(name)
                full_areas.append(int(sprite.mask.sum()))
                in_frame_areas.append(int(in_frame.sum()))
                break
    objects = tuple(_annotate(name, instances == k + 1, in_frame_areas[k], full_areas[k], height * width)
                    for k, name in enumerate(names))
    return Sample(image, instances, objects)


# ---- files ----------------------------------------------------------------------------------------------------------

def voc_palette() -> list[int]:
    """The devkit's colour map (labelcolormap.m) as 768 palette entries."""
    palette = []
    for c in range(256):
        r = g = b = 0
        for shift in range(8):
            r |= ((c >> 0) & 1) << (7 - shift)
            g |= ((c >> 1) & 1) << (7 - shift)
            b |= ((c >> 2) & 1) << (7 - shift)
            c >>= 3
        palette += [r, g, b]
    return palette


def border_band(instances: np.ndarray) -> np.ndarray:
    """Background pixels within ``BORDER`` pixels (chessboard distance) of an object.

    VOC's void band straddles each outline; here it lies outside the objects so that every
    visible object pixel keeps its label and the XML box stays the tight box of the mask.
    """
    objects = Image.fromarray((instances > 0).astype(np.uint8) * 255)
    near = np.array(objects.filter(ImageFilter.MaxFilter(2 * BORDER + 1))) > 0
    return near & (instances == 0)


def segmentation_masks(sample: Sample) -> tuple[np.ndarray, np.ndarray]:
    """(SegmentationClass, SegmentationObject) arrays: VOC class index + 1 / instance id, 0 background, 255 band."""
    lookup = np.array([0] + [VOC_CLASSES.index(o.name) + 1 for o in sample.objects], dtype=np.uint8)
    band = border_band(sample.instances)
    classes, objects = lookup[sample.instances], sample.instances.copy()
    classes[band] = objects[band] = IGNORE_INDEX
    return classes, objects


def annotation_xml(image_id: str, folder: str, sample: Sample) -> str:
    height, width = sample.instances.shape
    root = ET.Element("annotation")
    ET.SubElement(root, "folder").text = folder
    ET.SubElement(root, "filename").text = f"{image_id}.jpg"
    source = ET.SubElement(root, "source")
    ET.SubElement(source, "database").text = "zoo synthetic VOC (zoo/data/synthetic/voc.py)"
    size = ET.SubElement(root, "size")
    for tag, value in (("width", width), ("height", height), ("depth", 3)):
        ET.SubElement(size, tag).text = str(value)
    ET.SubElement(root, "segmented").text = "1"
    for obj in sample.objects:
        element = ET.SubElement(root, "object")
        ET.SubElement(element, "name").text = obj.name
        ET.SubElement(element, "pose").text = "Unspecified"
        ET.SubElement(element, "truncated").text = str(int(obj.truncated))
        ET.SubElement(element, "difficult").text = str(int(obj.difficult))
        box = ET.SubElement(element, "bndbox")
        for tag, value in zip(("xmin", "ymin", "xmax", "ymax"), obj.bbox):
            ET.SubElement(box, tag).text = str(value)
    ET.indent(root, space="\t")
    return ET.tostring(root, encoding="unicode") + "\n"


def _write_palette_png(path: Path, mask: np.ndarray) -> None:
    image = Image.frombytes("P", (mask.shape[1], mask.shape[0]), mask.tobytes())
    image.putpalette(voc_palette())
    image.save(path, format="PNG", optimize=False, compress_level=9)


def split_ids(ids: Sequence[str], seed: int) -> dict[str, list[str]]:
    """VOC2007-style splits: half test, the other half train and val; each file sorted."""
    if len(ids) < 4:
        raise ValueError(f"{len(ids)} images cannot fill train, val and test splits; generate at least 4")
    order = np.random.default_rng([seed, len(ids), STREAM_SPLIT]).permutation(len(ids))
    shuffled = [ids[i] for i in order]
    test, trainval = shuffled[:len(ids) // 2], shuffled[len(ids) // 2:]
    train, val = trainval[:len(trainval) // 2], trainval[len(trainval) // 2:]
    return {name: sorted(part) for name, part in
            (("train", train), ("val", val), ("trainval", trainval), ("test", test))}


def _write_splits(directory: Path, splits: dict[str, list[str]]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, ids in splits.items():
        (directory / f"{name}.txt").write_text("".join(f"{i}\n" for i in ids))


def _prepare(root: Path) -> tuple[Path, Path]:
    trees = root / "VOC2007", root / "VOC2012"
    for tree in trees:
        if tree.exists() and any(tree.iterdir()):
            raise FileExistsError(f"{tree} is not empty; delete it or choose another --out "
                                  f"(a new tree never mixes with an old one)")
    for tree in trees:
        for folder in ("JPEGImages", "Annotations"):
            (tree / folder).mkdir(parents=True, exist_ok=True)
    for folder in ("SegmentationClass", "SegmentationObject"):
        (trees[1] / folder).mkdir(parents=True, exist_ok=True)
    return trees


def generate(root: Path, num_images: int, seed: int, image_size: tuple[int, int] = IMAGE_SIZE) -> None:
    """Write root/VOC2007 and root/VOC2012 (see the module docstring); same seed and size, same bytes."""
    if min(image_size) < 48:
        raise ValueError(f"image_size {image_size} is too small for objects with room to move; use at least 48 x 48")
    ids = [f"{i + 1:06d}" for i in range(num_images)]
    splits = split_ids(ids, seed)
    voc2007, voc2012 = _prepare(Path(root))
    for index, image_id in enumerate(ids):
        sample = render(index, seed, image_size)
        for tree in (voc2007, voc2012):
            Image.fromarray(sample.image).save(tree / "JPEGImages" / f"{image_id}.jpg", format="JPEG",
                                               quality=JPEG_QUALITY, subsampling=2, optimize=False)
            (tree / "Annotations" / f"{image_id}.xml").write_text(annotation_xml(image_id, tree.name, sample))
        classes, objects = segmentation_masks(sample)
        _write_palette_png(voc2012 / "SegmentationClass" / f"{image_id}.png", classes)
        _write_palette_png(voc2012 / "SegmentationObject" / f"{image_id}.png", objects)
    _write_splits(voc2007 / "ImageSets" / "Main", splits)
    _write_splits(voc2012 / "ImageSets" / "Segmentation",
                  {"train": splits["trainval"], "val": splits["test"], "trainval": sorted(ids)})


# the tree the embedded cases evaluate: generated once per checkout into the cache, then reused
EMBEDDED_IMAGES, EMBEDDED_SEED = 200, 0
CACHE = paths.CACHE / "datasets"


def embedded_tree(cache: Path = CACHE) -> Path:
    """The embedded synthetic VOC root (holding VOC2007/ and VOC2012/), generated on first use.

    Generation writes to a temporary sibling and renames it, under a lock, so concurrent xdist
    workers neither clash nor see a half-written tree.
    """
    import fcntl
    import shutil

    height, width = IMAGE_SIZE
    root = cache / f"synthetic_voc-{EMBEDDED_IMAGES}-seed{EMBEDDED_SEED}-{height}x{width}"
    if root.is_dir():
        return root
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / f"{root.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not root.is_dir():
            partial = cache / f"{root.name}.partial"
            shutil.rmtree(partial, ignore_errors=True)
            generate(partial, EMBEDDED_IMAGES, EMBEDDED_SEED)
            partial.rename(root)
    return root


# ---- command line ---------------------------------------------------------------------------------------------------

def open_synthetic_voc2007_test(_data_dir, preprocess) -> VocDetectionSet:
    return VocDetectionSet(embedded_tree() / "VOC2007", preprocess)


def open_synthetic_voc2012_val(_data_dir, preprocess) -> VocSegmentationSet:
    return VocSegmentationSet(embedded_tree() / "VOC2012", preprocess)


def main(argv: Sequence[str] | None = None) -> int:
    return run_generator(argv, prog="python -m zoo.data.synthetic.voc", description=__doc__.splitlines()[0],
                         out_help="directory that receives VOC2007/ and VOC2012/", images=200, seed=0,
                         seed_help="seed (default 0)", size=IMAGE_SIZE,
                         generate=lambda args: generate(args.out, args.images, args.seed, args.size))


if __name__ == "__main__":
    sys.exit(main())
