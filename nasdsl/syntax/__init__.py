"""The front end's text side: the grammar and parser (`parser`), the syntax tree (`ast`) and
the formatter (`fmt`). Elaboration into the IR is `nasdsl.elaborate`."""
