"""The napari plugin: open a subject, draw sparse muscle masks, propagate them to 3D,
correct and save (``leg3dus annotate``).

An application of the library (it composes :mod:`leg3dus.propagate` and, for a trained
run, :mod:`leg3dus.segment.adapt`); nothing in the library imports it. The modules
without Qt (:mod:`.layers`, :mod:`.session`, :mod:`.propagation`) work without napari;
:mod:`.widget` and :mod:`.viewer` need the ``gui`` extra (napari and a Qt binding).
"""
