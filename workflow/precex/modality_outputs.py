"""What every modality stage that can exclude patients writes under results/{name}/.

Kept apart from the modality registry (precex.modalities) so that a stage importing its output
type does not import the registry, which names every other modality's code.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModalityOutputs:
    """What every modality stage that can exclude writes under results/{name}/: its features,
    and its problems (those naming a patient again as its exclusions). A stage writing more
    extends it."""

    features: str
    exclusions: str
    problems: str


# Beside a feature column: '<' or '>' for a result reported censored ('<0.3'): the column holds
# the limit, and rule conditions read it as just below (above) it.
CENSORED_SUFFIX = "_censored"
