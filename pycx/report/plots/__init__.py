"""The drawing of the report's figures, one module per part (see `pycx.report.figures`, which
assembles them and is where they are imported from).
"""
