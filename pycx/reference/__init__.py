"""Plain-numpy (float64) reference implementations of docs/definitions.md §1-8.

Written to be read beside ``docs/definitions.md`` (its **Decision** marks say what is taken where
the papers are ambiguous). Speed is not their job: they are the oracle that every fast path
is tested against. Gate arrays here are unpacked ``(rows, units)`` 0/1 arrays unless a function
says otherwise.
"""
