"""Taxonomy strings from SILVA/GTDB (`d__`), Greengenes (`k__`) and MetaPhlAn (`k__...|g__`).

Lineages are split into ranks; empty ranks (`g__`) and `Unassigned` become missing; renamed
phyla map to their current names (ICNP 2021 rank-suffix rule: Firmicutes -> Bacillota,
Bacteroidetes -> Bacteroidota, ...), so one batch can mix reference databases.
"""

from __future__ import annotations

import re

RANKS = ("domain", "phylum", "class", "order", "family", "genus", "species")
_PREFIX_RANK = {"d": "domain", "k": "domain", "p": "phylum", "c": "class", "o": "order",
                "f": "family", "g": "genus", "s": "species"}
PHYLUM_SYNONYMS = {
    "Firmicutes": "Bacillota",
    "Firmicutes_A": "Bacillota",
    "Firmicutes_B": "Bacillota",
    "Firmicutes_C": "Bacillota",
    "Bacillota_A": "Bacillota",
    "Bacteroidetes": "Bacteroidota",
    "Actinobacteria": "Actinomycetota",
    "Actinobacteriota": "Actinomycetota",
    "Proteobacteria": "Pseudomonadota",
    "Verrucomicrobia": "Verrucomicrobiota",
    "Fusobacteria": "Fusobacteriota",
    "Tenericutes": "Mycoplasmatota",
    "Desulfobacterota": "Thermodesulfobacteriota",
    "Euryarchaeota": "Methanobacteriota",
}
_UNASSIGNED = {"", "unassigned", "unclassified", "uncultured", "unknown", "ambiguous_taxa",
               "none"}
_GTDB_SUFFIX = re.compile(r"_[A-Z]+$")


def _clean(name: str) -> str | None:
    name = name.strip().strip("[]").strip()
    if name.lower() in _UNASSIGNED or name.lower().startswith("uncultured"):
        return None
    if name.lower().endswith("_unclassified"):  # MetaPhlAn: g__Lachnospiraceae_unclassified
        return None
    return name


def parse_lineage(text: str | None) -> dict[str, str | None]:
    """Ranks of a lineage string; unknown ranks are None."""
    ranks: dict[str, str | None] = dict.fromkeys(RANKS)
    if text is None:
        return ranks
    text = str(text).strip()
    if not text or text.lower() in _UNASSIGNED:
        return ranks
    parts = re.split(r"[;|]", text)
    prefixed = any(re.match(r"^\s*[a-z]__", p) for p in parts)
    for i, part in enumerate(parts):
        part = part.strip()
        match = re.match(r"^([a-z])__(.*)$", part)
        if match:
            rank = _PREFIX_RANK.get(match.group(1))
            if rank is None:  # t__ (MetaPhlAn SGB) and other sub-species ranks
                continue
            ranks[rank] = _clean(match.group(2))
        elif not prefixed and i < len(RANKS):  # unprefixed lineage: positional ranks
            ranks[RANKS[i]] = _clean(part)
    if ranks["phylum"]:
        ranks["phylum"] = PHYLUM_SYNONYMS.get(ranks["phylum"], ranks["phylum"])
    if ranks["genus"]:
        genus = ranks["genus"]
        if genus != "Escherichia-Shigella":
            genus = _GTDB_SUFFIX.sub("", genus)
        ranks["genus"] = genus
    return ranks


def genus_of(text: str | None) -> str:
    return parse_lineage(text)["genus"] or "unclassified"


def species_of(text: str | None) -> str:
    """'Genus species' of a lineage ('s__Eubacterium_rectale' -> 'Eubacterium rectale')."""
    name = parse_lineage(text)["species"]
    return name.replace("_", " ").replace("[", "").replace("]", "") if name else "unclassified"


def phylum_of(text: str | None) -> str:
    return parse_lineage(text)["phylum"] or "unclassified"
