"""Run ITK's MorphologicalContourInterpolator on one array, as a script in its own process.

ITK's Python wrapping and SimpleITK each carry a copy of the ITK libraries; loaded into
one process they corrupt the heap (the process aborts at exit). This file is therefore run
by path (``python _itk_morph_worker.py IN.npy OUT.npy PARAMS.json``), so that it imports
nothing of leg3dus and so no SimpleITK. It prints the seconds the filter took as JSON.
"""

import json
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
    np.save(dst, itk.array_from_image(filt.GetOutput()))
    print(json.dumps({"filter_seconds": seconds}))


if __name__ == "__main__":
    main(*sys.argv[1:4])
