"""The front end's text side: the grammar and parser (`parser`), the syntax tree (`ast`) and
the formatter (`fmt`). Elaboration into the IR is `nasdsl.elaborate`."""

from pathlib import Path


def grammar_path() -> Path:
    """The grammar file: inside the installed package, or `grammar/` of a source checkout.
    (Here, not in `parser`, so that finding it does not import Lark.)"""
    here = Path(__file__).resolve().parent.parent   # the nasdsl package
    for candidate in (here / "grammar" / "nas.lark", here.parent / "grammar" / "nas.lark"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("nas.lark not found next to the nasdsl package")
