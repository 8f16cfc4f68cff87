"""precex: breast-cancer multi-omics and clinical data -> precision exercise prescriptions.

Run `precex run --cores 2` (or `snakemake --cores 2` from the repository root) for the bundled
demo cohort; `precex run --configfile my.yaml --cores 8` for your own batch. See README.md.
"""

import sys
from pathlib import Path

from snakemake.utils import min_version, validate

min_version("9.0")

# A checkout runs the package beside this file; an installed wheel has it on sys.path already.
_source_tree = Path(workflow.basedir) / "workflow"
if (_source_tree / "precex" / "__init__.py").is_file():
    sys.path.insert(0, str(_source_tree))


# The bundled demo config is used only when no --configfile is given, so a user's config
# replaces the demo inputs entirely and never inherits one of them.
if not workflow.overwrite_configfiles:

    configfile: Path(workflow.basedir) / "config" / "config.yaml"

    config.setdefault("base_dir", workflow.basedir)


# Dates written unquoted and booleans written as text (--config research_mode=true) are what
# users write: read them as such before the schema check.
from precex.config import normalise_config

normalise_config(config)
validate(config, "workflow/schemas/config.schema.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/validate.smk"
include: "workflow/rules/modalities.smk"
include: "workflow/rules/profile.smk"
include: "workflow/rules/prescription.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/adapt.smk"
include: "workflow/rules/research.smk"


rule all:
    default_target: True
    input:
        get_final_outputs(),
