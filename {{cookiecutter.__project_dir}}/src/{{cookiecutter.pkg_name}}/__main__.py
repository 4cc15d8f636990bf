"""`python -m {{ cookiecutter.pkg_name }} stage=NAME [overrides]`: run one pipeline stage."""

from .runtime.cli import main

if __name__ == "__main__":
    main()
