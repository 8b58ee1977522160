"""One module a command: typed options in (inputs/options.py), an exit code out, output through
the Console. Errors are raised (the LambdaZipError family); cli/__init__.py dispatches to these and
turns errors into a line and a code."""
