"""The IPython adapter: the ``%%workflow`` / ``%workflow`` magics and what they need in a kernel."""
