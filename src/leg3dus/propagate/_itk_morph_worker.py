"""Run ITK's MorphologicalContourInterpolator on one array, as a script in its own process.

A process that has run ITK's wrapped filter sometimes aborts while the interpreter tears
down ("malloc_consolidate(): unaligned fastbin chunk detected"), more often when
SimpleITK's own copy of the ITK libraries is loaded too. This file is therefore run by
path (``python _itk_morph_worker.py IN.npy OUT.npy PARAMS.json``), so that it imports
nothing of leg3dus, and it leaves with ``os._exit`` once its output is complete, skipping
the teardown. It prints the seconds the filter took as JSON.
"""

import json
import os
import sys
import time

import itk
import numpy as np


def main(src: str, dst: str, params_path: str) -> None:
    with open(params_path) as f:
        params = json.load(f)
    crop = np.load(src)
    image = itk.image_from_array(crop)
    image.SetSpacing([float(s) for s in params["spacing_xyz"]])
    filt = itk.MorphologicalContourInterpolator.New(image)
    filt.SetAxis(2)
    filt.SetUseDistanceTransform(bool(params["use_distance_transform"]))
    filt.SetUseBallStructuringElement(bool(params["ball"]))
    filt.SetHeuristicAlignment(bool(params["heuristic_alignment"]))
    filt.SetUseCustomSlicePositions(True)
    for value in params["values"]:
        filt.SetLabeledSliceIndices(2, int(value), [int(k) for k in params["slices"]])
    start = time.perf_counter()
    filt.Update()
    seconds = time.perf_counter() - start
    tmp = dst + ".part.npy"
    np.save(tmp, itk.array_from_image(filt.GetOutput()))
    os.replace(tmp, dst)
    print(json.dumps({"filter_seconds": seconds}), flush=True)
    sys.stderr.flush()
    # Leave before ITK's objects are released: the abort happens in that clean-up.
    os._exit(0)


if __name__ == "__main__":
    main(*sys.argv[1:4])
