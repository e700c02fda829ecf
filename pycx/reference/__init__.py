"""Plain-numpy (float64) reference implementations of SPEC sections 1-6.

Written to be read beside ``SPEC.md`` (see ``docs/decisions.md`` for the decisions taken where
the papers are ambiguous). Speed is not their job: they are the oracle that every fast path
is tested against. Gate arrays here are unpacked ``(rows, units)`` 0/1 arrays unless a function
says otherwise.
"""
