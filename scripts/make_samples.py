#!/usr/bin/env python3
"""Rebuild ``samples/`` from its upstream sources.

The photographs come from Debian's wallpaper packages and from the images
scikit-image ships (see ``samples/LICENSES.md``).  This script is how the
committed files were made; run it only to regenerate them:

    apt-get download lomiri-wallpapers-16.04 lomiri-wallpapers-20.04 \
        mate-backgrounds plasma-workspace-wallpapers   # into SRC/debs
    pip download --no-deps scikit-image==0.26.0        # into SRC/wheels
    python scripts/make_samples.py SRC samples/ [TARGET...]   # all, or just these

Each photo is downscaled (long side 800 px) and re-encoded; some get a
format or property that photobrain must handle (PNG, TIFF, WebP, HEIC, EXIF
orientation 6, CMYK, progressive, 16-bit, palette), and a few get test
camera EXIF and user keywords written by exiftool, as another tool would.
"""
from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from PIL import Image

LONG_SIDE = 800

LOMIRI16 = "lomiri-wallpapers-16.04:usr/share/backgrounds/"
LOMIRI20 = "lomiri-wallpapers-20.04:usr/share/backgrounds/"
MATE = "mate-backgrounds:usr/share/backgrounds/mate/nature/"
PLASMA = "plasma-workspace-wallpapers:usr/share/wallpapers/"
SKIMAGE = "scikit-image:skimage/data/"

# (target, source, treatment)
SAMPLES = [
    ("people/astronaut.png", SKIMAGE + "astronaut.png", "png"),
    ("people/cameraman.tif", SKIMAGE + "camera.png", "tiff"),
    ("animals/chelsea the cat.webp", SKIMAGE + "chelsea.png", "webp"),
    ("animals/dogs at the window.jpg", LOMIRI16 + "friends_by_Aitzol_Berasategi.jpg", "orient6"),
    ("animals/nuthatch.jpg", LOMIRI20 + "Kleiber_by_Lukas_Baubkus.jpg", "cmyk"),
    ("animals/ladybird.jpg", MATE + "LadyBird.jpg", "jpeg"),
    ("food/café crème.jpg", SKIMAGE + "coffee.png", "progressive"),
    ("food/fig.jpg", LOMIRI16 + "Picture_0B_by_freespace.jpg", "jpeg"),
    ("food/colorful cups.jpg", PLASMA + "ColorfulCups/contents/images/2560x1600.jpg", "jpeg"),
    ("interiors/wine corner.jpg", LOMIRI16 + "Wine_by_Jakkub_Mede.jpg", "jpeg"),
    ("interiors/lamps and bird.jpg", LOMIRI16 + "free_by_Peter_Nerlich.jpg", "jpeg"),
    ("interiors/paint brushes.jpg", LOMIRI16 + "Picture_1A_by_freespace.jpg", "jpeg"),
    ("landscapes/autumn valley.jpg", LOMIRI16 + "aitzgorri_by_Aitzol_Berasategi.jpg", "jpeg"),
    ("landscapes/picos de europa.jpg", LOMIRI16 + "picosdeeuropa_by_Aitzol_Berasategi.jpg", "jpeg"),
    ("landscapes/forest stream.jpg", LOMIRI16 + "life_by_Aitzol_Berasategi.jpg", "jpeg"),
    ("landscapes/mountain sunset.jpg", LOMIRI16 + "sunset_by_Aitzol_Berasategi.jpg", "jpeg"),
    ("landscapes/dune grass.jpg", MATE + "Dune.jpg", "jpeg"),
    ("landscapes/storm.jpg", MATE + "Storm.jpg", "jpeg"),
    ("landscapes/forest path.jpg", PLASMA + "Path/contents/images/2560x1600.jpg", "jpeg"),
    ("landscapes/boats at evening glow.jpg", PLASMA + "EveningGlow/contents/images/2560x1600.jpg", "keyworded"),
    ("landscapes/foggy pier.png", PLASMA + "ColdRipple/contents/images/2560x1600.jpg", "png16"),
    ("city/bridge cables.jpg", LOMIRI16 + "Bridge_by_Sander_Klootwijk.jpg", "jpeg"),
    ("city/facade.jpg", PLASMA + "Grey/contents/images/2560x1600.jpg", "jpeg"),
    ("night/rocket launch pad.jpg", SKIMAGE + "rocket.jpg", "jpeg"),
    ("night/milky way over the sea.jpg", LOMIRI20 + "Infinite-Sea_by_Aury88.jpg", "jpeg"),
    ("night/hubble deep field.jpg", SKIMAGE + "hubble_deep_field.jpg", "jpeg"),
    ("plants/dandelions.jpg", LOMIRI16 + "seeding_by_Clements_Engelhardt.jpg", "jpeg"),
    ("plants/red flower.jpg", MATE + "FreshFlower.jpg", "jpeg"),
    ("plants/rain drops.jpg", MATE + "RainDrops.jpg", "jpeg"),
    ("plants/fallen leaf.jpg", PLASMA + "FallenLeaf/contents/images/2560x1600.jpg", "jpeg"),
    ("plants/yellow flower.heic", MATE + "YellowFlower.jpg", "heic"),
    ("documents/scanned page.png", SKIMAGE + "page.png", "png"),
    ("documents/coins.png", SKIMAGE + "coins.png", "palette"),
]

CAMERA_EXIF = [
    "-EXIF:Make=Photobrain Test", "-EXIF:Model=Sample Camera",
    "-EXIF:DateTimeOriginal=2024:06:01 18:30:00", "-EXIF:Artist=see samples/LICENSES.md",
]
GPS = ["-GPSLatitude=43.19", "-GPSLatitudeRef=N", "-GPSLongitude=4.85", "-GPSLongitudeRef=W"]


def open_source(src_root: Path, spec: str) -> Image.Image:
    package, inner = spec.split(":", 1)
    if package == "scikit-image":
        wheel = next((src_root / "wheels").glob("scikit_image-*.whl"))
        with zipfile.ZipFile(wheel) as zf, zf.open(inner) as fh:
            image = Image.open(fh)
            image.load()
            return image
    deb = next((src_root / "debs").glob(f"{package}_*.deb"))
    unpacked = src_root / "unpacked" / package
    if not unpacked.exists():
        unpacked.mkdir(parents=True)
        subprocess.run(["dpkg", "-x", str(deb), str(unpacked)], check=True)
    image = Image.open(unpacked / inner)
    image.load()
    return image


def shrink(image: Image.Image) -> Image.Image:
    image = image.copy()
    image.thumbnail((LONG_SIDE, LONG_SIDE), Image.Resampling.LANCZOS)
    return image


def exiftool(path: Path, *args: str) -> None:
    subprocess.run(["exiftool", "-q", "-overwrite_original", *args, str(path)], check=True)


def build(target: Path, image: Image.Image, treatment: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    rgb = shrink(image.convert("RGB") if image.mode not in ("L", "RGB") else image)
    if treatment == "png":
        rgb.save(target, optimize=True)
    elif treatment == "tiff":
        rgb.save(target, compression="tiff_deflate")
        exiftool(target, *CAMERA_EXIF)
    elif treatment == "webp":
        rgb.save(target, quality=80, method=6)
    elif treatment == "orient6":
        # Stored sideways, displayed upright through EXIF Orientation=6 (rotate 90 CW).
        rgb.rotate(90, expand=True).save(target, quality=85)
        exiftool(target, *CAMERA_EXIF, *GPS, "-EXIF:Orientation#=6")
    elif treatment == "cmyk":
        rgb.convert("CMYK").save(target, quality=88)
    elif treatment == "progressive":
        rgb.save(target, quality=85, progressive=True, optimize=True)
    elif treatment == "png16":
        gray16 = rgb.convert("L").point(lambda v: v * 257, mode="I").convert("I;16")
        gray16.save(target)
    elif treatment == "heic":
        import pillow_heif

        pillow_heif.register_heif_opener()
        rgb.save(target, quality=70)
    elif treatment == "palette":
        rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=64).save(target, optimize=True)
    elif treatment == "keyworded":
        rgb.save(target, quality=85)
        # Written the way Lightroom and Photo Mechanic leave a file: flat and
        # hierarchical keywords, IIM keywords with a current IPTC digest, a rating.
        exiftool(
            target, *CAMERA_EXIF, *GPS,
            "-XMP-dc:Subject=Lake District", "-XMP-dc:Subject=boats", "-XMP-dc:Subject=Anna",
            "-XMP-lr:HierarchicalSubject=Places|England|Lake District",
            "-XMP-lr:HierarchicalSubject=Things|boats",
            "-IPTC:Keywords=Lake District", "-IPTC:Keywords=boats", "-IPTC:Keywords=Anna",
            "-XMP-xmp:Rating=4", "-XMP-xmp:Label=Green", "-IPTCDigest=new",
        )
    else:
        rgb.save(target, quality=85)
        if treatment == "jpeg" and "landscapes" in target.parts:
            exiftool(target, *CAMERA_EXIF)


def main(src_root: str, out: str, *only: str) -> None:
    for target, spec, treatment in SAMPLES:
        if only and target not in only:
            continue
        build(Path(out) / target, open_source(Path(src_root), spec), treatment)
        print(target)


if __name__ == "__main__":
    main(*sys.argv[1:])
