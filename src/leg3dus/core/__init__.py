"""The core every stage stands on: volumes and their formats, the label scheme and label
conventions, geometry and transforms, the dataset layout, array helpers, errors, atomic
writes, tables and per-subject jobs.

Nothing here imports a stage or an application (the import contract in pyproject.toml
checks it). Arrays are (z, y, x), distances in mm.
"""
