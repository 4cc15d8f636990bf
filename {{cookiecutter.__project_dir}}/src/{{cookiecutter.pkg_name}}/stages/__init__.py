"""The pipeline's stages: one module per stage, each with a function of the same name.

A stage is `stages/<name>.py` with `def <name>(cfg: <Name>Config, run: Run) -> Metrics`,
its section `<name>:` in conf/config.yaml, and its entry in dvc.yaml, whose order is the
pipeline's order. `python -m {{ cookiecutter.pkg_name }} check` refuses a stage missing any of the three.
"""
