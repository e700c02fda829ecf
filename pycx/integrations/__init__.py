"""Integrations with the tools researchers train with: `tensorboard` (`log_report`) and
`lightning` (`ComplexityCallback`). Each module imports its package only when used
(``pip install "pycx[integrations]"``).

May import: `pycx.analysis`, `pycx.report`, the base layer.
"""
