"""nasdsl's version, in a module of its own so that any module can read it without importing
the package's API (`nasdsl/__init__.py` imports most of nasdsl). pyproject.toml holds the same."""
__version__ = "0.1.0"
