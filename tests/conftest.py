"""Puts tests/ on sys.path (pytest's rootdir conftest rule) so suites share `backends`."""
