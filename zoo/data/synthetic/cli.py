"""What the synthetic-data generators share: the tree digest and their command line."""
from __future__ import annotations

import argparse
import hashlib
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path


def tree_digest(root: Path) -> str:
    """sha256 over every file's relative path and bytes under root, in sorted order."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(root).rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def height_by_width(text: str) -> tuple[int, int]:
    """argparse type for ``--size HxW``."""
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected HEIGHTxWIDTH, e.g. 150x200") from None
    return height, width


def run_generator(argv: Sequence[str] | None, *, prog: str, description: str, out_help: str,
                  images: int, seed: int, seed_help: str, size: tuple[int, int],
                  generate: Callable[[argparse.Namespace], object],
                  extra: Callable[[argparse.ArgumentParser], None] = lambda parser: None) -> int:
    """``python -m <generator> --out DIR [--images N] [--seed S] [--size HxW]``: write a tree, print its digest."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--out", type=Path, required=True, help=out_help)
    parser.add_argument("--images", type=int, default=images, help=f"number of images (default {images})")
    parser.add_argument("--seed", type=int, default=seed, help=seed_help)
    extra(parser)
    parser.add_argument("--size", type=height_by_width, default=size, metavar="HxW",
                        help=f"image height x width (default {size[0]}x{size[1]})")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        generate(args)
    except (FileExistsError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {args.images} images ({args.size[0]}x{args.size[1]}, seed {args.seed}) to {args.out} "
          f"in {time.perf_counter() - start:.1f} s; tree sha256 {tree_digest(args.out)}")
    return 0
