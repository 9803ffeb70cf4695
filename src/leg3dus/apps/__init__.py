"""Applications that compose the stages: the command line (:mod:`.cli`), the HTML report
(:mod:`.report`), the demo (:mod:`.demo`) and the napari plugin (:mod:`.napari`).

Nothing in the core or the stages imports them (the import contract in pyproject.toml
checks it).
"""
