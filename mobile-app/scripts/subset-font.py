#!/usr/bin/env python3
"""Builds the embedded UI font: a subset of Noto Sans CJK JP (SIL OFL 1.1) holding only the
characters the app's own text needs, so golden images render identically on every machine and the
committed files stay small. Text a user types (notes, facility names) falls back to system fonts.

Run it again whenever a .slint file, a translation, the demo data or the example configuration
gains a character (the `embedded_font_covers_every_ui_string` test says which one is missing).

Usage (from the repository root, on Debian 12):
    apt-get download fonts-noto-cjk && dpkg-deb -x fonts-noto-cjk_*.deb /tmp/noto
    python3 -m venv /tmp/fontvenv && /tmp/fontvenv/bin/pip install fonttools
    /tmp/fontvenv/bin/python mobile-app/scripts/subset-font.py /tmp/noto/usr/share/fonts/opentype/noto

The family is renamed ("PHR Sans JP") so that a full Noto Sans CJK JP installed on the system can
never be picked instead of the subset (that would change the golden images), and because the OFL
asks modified fonts not to pass themselves off as the original.
"""
import pathlib
import sys

from fontTools import subset
from fontTools.ttLib import TTCollection

FAMILY = "PHR Sans JP"
ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "ui" / "fonts"
# Index 0 of the Debian .ttc files is the Japanese ("JP") face.
JP_INDEX = 0
FACES = {"Regular": "NotoSansCJK-Regular.ttc", "Bold": "NotoSansCJK-Bold.ttc"}


def ranges(*pairs):
    for lo, hi in pairs:
        yield from range(lo, hi + 1)


def wanted_characters():
    chars = set(ranges(
        (0x20, 0x7E),      # ASCII
        (0x3000, 0x303F),  # CJK punctuation
        (0x3041, 0x309F),  # hiragana
        (0x30A0, 0x30FF),  # katakana
        (0xFF01, 0xFF5E),  # full-width forms
    ))
    chars.update(ord(c) for c in "°·×±–—‘’“”•…←↑→↓−≤≥○●◎△▲▼■□※〜")
    sources = []
    for pattern in ("ui/**/*.slint", "translations/**/*.po", "src/**/*.rs", "*.toml"):
        sources.extend(sorted(ROOT.glob(pattern)))
    for path in sources:
        chars.update(ord(c) for c in path.read_text(encoding="utf-8") if ord(c) > 0x7E)
    # Control and private-use characters never render.
    return sorted(c for c in chars if c >= 0x20 and not 0xE000 <= c <= 0xF8FF)


def rename(font, style):
    names = font["name"]
    full = f"{FAMILY} {style}" if style != "Regular" else FAMILY
    postscript = FAMILY.replace(" ", "") + "-" + style
    for record in list(names.names):
        if record.nameID in (1, 16):
            record.string = FAMILY
        elif record.nameID in (2, 17):
            record.string = style
        elif record.nameID == 3:
            record.string = f"{postscript};subset"
        elif record.nameID == 4:
            record.string = full
        elif record.nameID == 6:
            record.string = postscript
    if "CFF " in font:
        cff = font["CFF "].cff
        cff.fontNames = [postscript]
        top = cff.topDictIndex[0]
        top.FullName = full
        top.FamilyName = FAMILY


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    source_dir = pathlib.Path(sys.argv[1])
    chars = wanted_characters()
    OUT.mkdir(parents=True, exist_ok=True)
    for style, file_name in FACES.items():
        font = TTCollection(source_dir / file_name).fonts[JP_INDEX]
        options = subset.Options()
        options.layout_features = ["kern", "palt", "vkrn", "ccmp", "locl"]
        options.name_IDs = ["*"]
        options.name_languages = ["*"]
        options.notdef_outline = True
        options.hinting = False
        subsetter = subset.Subsetter(options)
        subsetter.populate(unicodes=chars)
        subsetter.subset(font)
        rename(font, style)
        out = OUT / f"PHRSansJP-{style}.otf"
        font.save(out)
        print(f"{out.relative_to(ROOT)}: {len(chars)} characters, {out.stat().st_size} bytes")


if __name__ == "__main__":
    main()
