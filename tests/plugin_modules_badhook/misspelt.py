"""A local test plugin with a misspelt hook name: loading must fail."""
from ser_framework import hookimpl


@hookimpl
def register_clasifiers(register):  # noqa: D103 - deliberately misspelt
    pass
