"""The pipeline's stages: one module per stage, each with a function of the same name.

PIPELINE is the single list of stage names, in the order they run. The CLI,
`--help` and the tests all read it. To add a stage: write `stages/<name>.py`
with `def <name>(cfg: Config, run: Run) -> Metrics`, and add its name here.
"""

PIPELINE: tuple[str, ...] = ("prepare", "featurize", "train", "evaluate")
