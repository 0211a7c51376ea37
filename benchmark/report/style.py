"""Method families and their plotting styles, the same in every figure of every report.

Each method belongs to a **family** (trivial, linear, rebalancing, CNN/CRNN,
autoencoders, frozen pretrained encoders, and the three seed papers' methods: Emotion Extractor,
speaker-adversarial, the VAE family). A family has one hue and one line style;
each member has its own marker, shade of the hue and bar hatch, so two members
of one family stay apart in greyscale too. The papers' families are drawn with
solid lines, larger markers and on top of the baselines.

Names the table below does not know still get a distinct style:

- a variant ``base/variant`` (a registered method plus hyperparameter
  overrides) inherits its base's family and shade, with a marker of its own
  and a dotted line;
- any other name (a user's method) joins the ``other`` family, whose styles
  come from a pool of hues and markers unused by the known families.

Unknown names are placed in that pool by a stable hash of the name, so one
name gets the same style in every figure and every report;
:func:`method_styles` resolves the rare collision within one set of names
(probing the next free slot in sorted-name order), so no two methods of a
report share colour and marker.

Use::

    from benchmark.report.style import method_style, method_styles, line_kwargs
    colour, marker, linestyle = method_style("ssvae")[:3]
    styles = method_styles(names)            # once per report: collision-free
    ax.plot(x, y, **line_kwargs(styles[name]), label=name)
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, NamedTuple, Sequence

from matplotlib.colors import to_rgb

Colour = tuple[float, float, float]
LineStyle = str | tuple


@dataclass(frozen=True)
class Family:
    key: str
    label: str                 # as captions and legends name it
    colour: str                # the family's hue
    linestyle: LineStyle
    members: tuple[str, ...]   # registered method names, in display order
    paper: bool = False        # the seed papers' methods: drawn on top, named in captions


# Okabe-Ito hues (colour-blind safe) for the families; the papers take the most saturated ones.
# Line styles are custom dash patterns so that every family is told apart without colour.
FAMILIES: tuple[Family, ...] = (
    Family("trivial", "trivial", "#7F7F7F", (0, (1, 1.2)), ("majority",)),
    Family("linear", "linear", "#56B4E9", (0, (4, 1.5)), ("logreg", "linear_svm")),
    Family("rebalancing", "rebalancing", "#009E73", (0, (5, 1.5, 1, 1.5)),
           ("logreg_oversampled", "logreg_smote", "cnn_weighted", "crnn_weighted", "cnn_oversampled")),
    Family("cnn", "CNN/CRNN", "#CC79A7", (0, (2.5, 1)), ("cnn", "crnn")),
    Family("autoencoder", "autoencoders", "#A6761D", (0, (6, 1, 1, 1, 1, 1)), ("dae", "dae_conv")),
    Family("pretrained", "frozen pretrained encoders", "#882255", (0, (1, 1, 4, 1)), ("frozen_logreg", "superb_probe")),
    Family("tts_reference", "TTS references", "#000000", (0, (1, 1)), ("ground_truth", "resynthesis", "none")),
    Family("emotion_extractor", "Emotion Extractor", "#D55E00", "-", ("emotion_extractor",), paper=True),
    Family("speaker_adversarial", "speaker-adversarial", "#0072B2", "-", ("speaker_adversarial",), paper=True),
    Family("vae", "VAE family", "#6A3D9A", "-", ("vae_kl_annealing", "ssvae", "vae", "ssvae_conv", "vae_conv"),
           paper=True),
)
FAMILY_BY_KEY = {f.key: f for f in FAMILIES}
OTHER = Family("other", "other", "#E69F00", (0, (3, 1, 1, 1, 1, 1)), ())

# The methods the three papers propose: every main-text figure shows them (the other members of their
# families are implementation variants and ablations: vae without annealing, the convolutional encoders).
PAPER_METHODS = ("emotion_extractor", "speaker_adversarial", "vae_kl_annealing", "ssvae")

# Per member (index within its family): marker, shade (-1 black .. 0 hue .. +1 white), hatch.
_MARKERS: dict[str, str] = {
    "majority": "X",
    "logreg": "o", "linear_svm": "s",
    "logreg_oversampled": "^", "logreg_smote": "v", "cnn_weighted": "<", "crnn_weighted": ">", "cnn_oversampled": "d",
    "cnn": "p", "crnn": "h",
    "dae": "D", "dae_conv": "8",
    "frozen_logreg": "H", "superb_probe": ">",
    "ground_truth": "o", "resynthesis": "s", "none": "x",
    "emotion_extractor": "*",
    "speaker_adversarial": "P",
    "vae_kl_annealing": "o", "ssvae": "s", "vae": "^", "ssvae_conv": "D", "vae_conv": "v",
}
_SHADES = (0.0, -0.35, 0.35, -0.6, 0.55)
_HATCHES = ("", "////", "\\\\\\\\", "xxxx", "....", "++++")
_REFERENCE_SHADES = {"ground_truth": -1.0, "resynthesis": -0.55, "none": -0.1}   # black, dark, mid grey

# The ``other`` family's pool: hues no known family uses, and markers.
_OTHER_HUES = ("#E69F00", "#44AA99", "#117733", "#332288", "#999933", "#CC6677", "#661100")
_POOL_MARKERS = ("o", "s", "^", "D", "v", "p", "h", "*", "P", "X", "<", ">", "d", "8", "H")
VARIANT_LINESTYLE: LineStyle = (0, (1.5, 1))
VARIANT_SEPARATOR = "/"
_MARKER_SCALE = {"*": 1.45, "8": 0.9}   # a star's ink is thinner than a disc's at the same size
_OPEN_MARKERS = frozenset({"x", "+", "1", "2", "3", "4", "|", "_"})
_FIRST_PAPER_FAMILY = next(i for i, f in enumerate(FAMILIES) if f.paper)


class MethodStyle(NamedTuple):
    colour: Colour
    marker: str
    linestyle: LineStyle
    hatch: str
    family: str          # Family.key
    paper: bool          # one of the papers' families: drawn on top


def shade(colour: str | Colour, amount: float) -> Colour:
    """``colour`` mixed towards white (``amount`` > 0) or black (< 0); 0 keeps it."""
    r, g, b = to_rgb(colour)
    if amount >= 0:
        return (r + (1 - r) * amount, g + (1 - g) * amount, b + (1 - b) * amount)
    return (r * (1 + amount), g * (1 + amount), b * (1 + amount))


def split_variant(name: str) -> tuple[str, str | None]:
    """``("ssvae", "no_kl")`` for ``"ssvae/no_kl"``; ``(name, None)`` for a plain name."""
    base, sep, variant = str(name).partition(VARIANT_SEPARATOR)
    return (base, variant) if sep and base and variant else (str(name), None)


def family_of(name: str) -> Family:
    """The family of ``name``; a variant's is its base's; an unknown name's is ``other``."""
    base, _ = split_variant(name)
    for family in FAMILIES:
        if base in family.members:
            return family
    return OTHER


def is_paper_method(name: str) -> bool:
    """One of the papers' proposed methods (or a variant of one)."""
    return split_variant(name)[0] in PAPER_METHODS


def _known(name: str) -> MethodStyle:
    family = family_of(name)
    index = family.members.index(name)
    amount = _REFERENCE_SHADES.get(name, _SHADES[index % len(_SHADES)])
    return MethodStyle(shade(family.colour, amount), _MARKERS[name], family.linestyle,
                       _HATCHES[index % len(_HATCHES)], family.key, family.paper)


def _slot(name: str, n_slots: int) -> int:
    return zlib.crc32(str(name).encode("utf-8")) % n_slots


def _candidates(name: str) -> list[MethodStyle]:
    """The styles an unknown name or a variant may take, its preferred one (by hash) first."""
    base, variant = split_variant(name)
    family = family_of(name)
    if variant is not None:
        # A variant keeps its base's shade (the same family at a glance) and takes a marker of its own.
        parent = method_style(base)
        options = [parent._replace(marker=m, linestyle=VARIANT_LINESTYLE, hatch="////")
                   for m in _POOL_MARKERS if m != parent.marker]
    else:
        options = [MethodStyle(to_rgb(hue), m, family.linestyle, _HATCHES[i % len(_HATCHES)], family.key, False)
                   for i, (m, hue) in enumerate((m, h) for m in _POOL_MARKERS for h in _OTHER_HUES)]
    start = _slot(variant if variant is not None else name, len(options))
    return options[start:] + options[:start]


def method_style(name: str) -> MethodStyle:
    """The style of one method: fixed for registered methods, a stable hash-chosen one for others.

    Within one figure or report use :func:`method_styles`, which also keeps unknown names apart.
    """
    name = str(name)
    if split_variant(name)[1] is None and family_of(name) is not OTHER:
        return _known(name)
    return _candidates(name)[0]


def method_styles(names: Iterable[str]) -> dict[str, MethodStyle]:
    """A style for every name, no two with the same colour and marker (registered methods never move)."""
    names = sorted(set(map(str, names)))
    styles: dict[str, MethodStyle] = {}
    for name in names:
        if split_variant(name)[1] is None and family_of(name) is not OTHER:
            styles[name] = _known(name)
    taken = {(s.colour, s.marker) for s in styles.values()}
    for name in names:
        if name in styles:
            continue
        options = _candidates(name)
        chosen = next((s for s in options if (s.colour, s.marker) not in taken), options[0])
        styles[name] = chosen
        taken.add((chosen.colour, chosen.marker))
    return styles


def display_order(names: Iterable[str]) -> list[str]:
    """Baseline families first, the papers' families last (so they are drawn on top), members in family order."""
    order = {f.key: i for i, f in enumerate(FAMILIES)}

    def key(name: str) -> tuple:
        base, variant = split_variant(name)
        family = family_of(name)
        # ``other`` (a user's methods) sits just before the papers: compared with them, drawn above baselines
        rank = order.get(family.key, _FIRST_PAPER_FAMILY - 0.5)
        member = family.members.index(base) if base in family.members else len(family.members)
        return (rank, member, base, variant or "")

    return sorted(set(map(str, names)), key=key)


def select_main(names: Iterable[str], score: Mapping[str, float], higher_is_better: bool = True) -> list[str]:
    """A main-text subset: the papers' methods, every ``other`` (user's) method, and the best of each other family.

    ``score`` ranks the members of a family (e.g. UA on the main protocol); a family none of whose members
    has a finite score keeps its first member in display order. Returned in :func:`display_order`.
    """
    names = display_order(names)
    chosen = [n for n in names if is_paper_method(n) or family_of(n) is OTHER]
    covered = {family_of(n).key for n in chosen if split_variant(n)[1] is None}
    for family in [f for f in FAMILIES if f.key not in covered]:
        members = [n for n in names if family_of(n) is family and split_variant(n)[1] is None]
        if not members:
            continue
        scored = [n for n in members if _finite(score.get(n))]
        if scored:
            best = (max if higher_is_better else min)(scored, key=lambda n: float(score[n]))
        else:
            best = members[0]
        chosen.append(best)
    return display_order(chosen)


def _finite(value: Any) -> bool:
    try:
        return value is not None and float(value) == float(value) and abs(float(value)) != float("inf")
    except (TypeError, ValueError):
        return False


def line_kwargs(style: MethodStyle, *, markersize: float | None = None) -> dict[str, Any]:
    """``ax.plot`` keyword arguments of a style: the papers' lines thicker, larger and on top."""
    return {"color": style.colour, "marker": style.marker, "linestyle": style.linestyle,
            "linewidth": 1.4 if style.paper else 1.0,
            "markersize": (markersize or (5.0 if style.paper else 4.2)) * _MARKER_SCALE.get(style.marker, 1.0),
            "markeredgewidth": 0.4, "markeredgecolor": "white" if style.marker not in _OPEN_MARKERS else style.colour,
            "zorder": 4 if style.paper else 3}


def paper_methods_in(names: Sequence[str]) -> list[str]:
    """The papers' families' methods among ``names``, in display order (for captions)."""
    return [n for n in display_order(names) if family_of(n).paper]


def caption_note(names: Sequence[str]) -> str:
    """The sentence a caption adds: which shown methods are the papers' (drawn on top, solid lines)."""
    papers = paper_methods_in(names)
    if not papers:
        return ""
    return ("Papers' methods (solid lines, drawn on top): " + ", ".join(papers) + "; one hue per method family, "
            "one marker per member.")


__all__ = ["FAMILIES", "OTHER", "PAPER_METHODS", "Family", "MethodStyle", "caption_note", "display_order",
           "family_of", "is_paper_method", "line_kwargs", "method_style", "method_styles", "paper_methods_in",
           "select_main", "shade", "split_variant"]
