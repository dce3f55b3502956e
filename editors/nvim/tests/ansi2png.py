#!/usr/bin/env python3
"""Render `tmux capture-pane -e -p` output (ANSI SGR colours) to a PNG, cell by cell.

    ansi2png.py capture.ansi out.png [--cursor X,Y] [--cursor-shape bar|block]

Needs Pillow and a monospace TTF (DejaVu Sans Mono by default; $QUILL_FONT overrides).
"""
import argparse
import os
import re
import unicodedata

from PIL import Image, ImageDraw, ImageFont

FONT_DIRS = ["/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu", "/usr/local/share/fonts"]
DEFAULT_FG = (0xE0, 0xE2, 0xEA)
DEFAULT_BG = (0x14, 0x16, 0x1B)
# xterm's 16 colours.
BASE16 = [
    (0, 0, 0), (205, 0, 0), (0, 205, 0), (205, 205, 0), (0, 0, 238), (205, 0, 205), (0, 205, 205), (229, 229, 229),
    (127, 127, 127), (255, 0, 0), (0, 255, 0), (255, 255, 0), (92, 92, 255), (255, 0, 255), (0, 255, 255),
    (255, 255, 255),
]


def xterm256(n):
    if n < 16:
        return BASE16[n]
    if n < 232:
        n -= 16
        steps = [0, 95, 135, 175, 215, 255]
        return (steps[n // 36], steps[(n // 6) % 6], steps[n % 6])
    v = 8 + (n - 232) * 10
    return (v, v, v)


def font(style):
    name = {"": "DejaVuSansMono.ttf", "b": "DejaVuSansMono-Bold.ttf", "i": "DejaVuSansMono-Oblique.ttf",
            "bi": "DejaVuSansMono-BoldOblique.ttf"}[style]
    override = os.environ.get("QUILL_FONT")
    if override and style == "":
        return ImageFont.truetype(override, 16)
    for d in FONT_DIRS:
        p = os.path.join(d, name)
        if os.path.exists(p):
            return ImageFont.truetype(p, 16)
    if style:
        return font("")
    raise SystemExit("no DejaVu Sans Mono found (apt-get install fonts-dejavu-core, or set QUILL_FONT)")


SGR = re.compile(r"\x1b\[([0-9;:]*)m")
OTHER_ESC = re.compile(r"\x1b(\[[0-9;?]*[A-Za-z]|\][^\x07]*\x07|[()][A-Z0-9])")


def parse(text):
    """Rows of cells: (char, fg, bg, bold, italic, underline)."""
    rows = []
    state = dict(fg=None, bg=None, bold=False, italic=False, underline=False, reverse=False)
    for line in text.split("\n"):
        cells = []
        pos = 0
        while pos < len(line):
            m = SGR.match(line, pos)
            if m:
                apply_sgr(state, m.group(1))
                pos = m.end()
                continue
            m = OTHER_ESC.match(line, pos)
            if m:
                pos = m.end()
                continue
            ch = line[pos]
            pos += 1
            fg, bg = state["fg"] or DEFAULT_FG, state["bg"] or DEFAULT_BG
            if state["reverse"]:
                fg, bg = bg, fg
            cell = (ch, fg, bg, state["bold"], state["italic"], state["underline"])
            cells.append(cell)
            if unicodedata.east_asian_width(ch) in "WF":
                cells.append(("", fg, bg, False, False, False))
        rows.append(cells)
    return rows


def apply_sgr(state, params):
    codes = [int(p) if p else 0 for p in re.split("[;:]", params)] if params else [0]
    i = 0
    while i < len(codes):
        c = codes[i]
        if c == 0:
            state.update(fg=None, bg=None, bold=False, italic=False, underline=False, reverse=False)
        elif c == 1:
            state["bold"] = True
        elif c == 3:
            state["italic"] = True
        elif c == 4:
            state["underline"] = True
        elif c == 7:
            state["reverse"] = True
        elif c == 22:
            state["bold"] = False
        elif c == 23:
            state["italic"] = False
        elif c == 24:
            state["underline"] = False
        elif c == 27:
            state["reverse"] = False
        elif 30 <= c <= 37:
            state["fg"] = BASE16[c - 30]
        elif 90 <= c <= 97:
            state["fg"] = BASE16[c - 90 + 8]
        elif 40 <= c <= 47:
            state["bg"] = BASE16[c - 40]
        elif 100 <= c <= 107:
            state["bg"] = BASE16[c - 100 + 8]
        elif c == 39:
            state["fg"] = None
        elif c == 49:
            state["bg"] = None
        elif c in (38, 48) and i + 1 < len(codes):
            key = "fg" if c == 38 else "bg"
            if codes[i + 1] == 5 and i + 2 < len(codes):
                state[key] = xterm256(codes[i + 2])
                i += 2
            elif codes[i + 1] == 2 and i + 4 < len(codes):
                state[key] = tuple(codes[i + 2:i + 5])
                i += 4
        i += 1


def render(rows, out, cols, cursor=None, shape="bar"):
    regular = font("")
    fonts = {"": regular, "b": font("b"), "i": font("i"), "bi": font("bi")}
    cw = round(regular.getlength("M"))
    ch = round(sum(regular.getmetrics()) * 1.15)
    pad = 12
    width = cols * cw + 2 * pad
    height = len(rows) * ch + 2 * pad
    img = Image.new("RGB", (width, height), DEFAULT_BG)
    draw = ImageDraw.Draw(img)
    ascent = regular.getmetrics()[0]
    for y, cells in enumerate(rows):
        py = pad + y * ch
        for x, (c, fg, bg, bold, italic, underline) in enumerate(cells):
            px = pad + x * cw
            if bg != DEFAULT_BG:
                draw.rectangle([px, py, px + cw - 1, py + ch - 1], fill=bg)
            if c and c != " ":
                f = fonts[("b" if bold else "") + ("i" if italic else "")]
                draw.text((px, py + (ch - ascent) // 2 - 1), c, font=f, fill=fg)
            if underline:
                draw.line([px, py + ch - 2, px + cw - 1, py + ch - 2], fill=fg)
    if cursor:
        cx, cy = cursor
        px, py = pad + cx * cw, pad + cy * ch
        if shape == "bar":
            draw.rectangle([px, py + 1, px + 1, py + ch - 2], fill=(230, 230, 230))
        else:
            draw.rectangle([px, py, px + cw - 1, py + ch - 1], outline=(230, 230, 230))
    img.save(out)
    return img.size


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("capture")
    ap.add_argument("out")
    ap.add_argument("--cursor")
    ap.add_argument("--cursor-shape", default="bar")
    ap.add_argument("--cols", type=int)
    a = ap.parse_args()
    with open(a.capture, encoding="utf-8", errors="replace") as f:
        text = f.read().rstrip("\n")
    rows = parse(text)
    cols = a.cols or max(len(r) for r in rows)
    cursor = tuple(int(v) for v in a.cursor.split(",")) if a.cursor else None
    size = render(rows, a.out, cols, cursor, a.cursor_shape)
    print(f"{a.out}: {size[0]}x{size[1]}")


if __name__ == "__main__":
    main()
