"""PLUS configuration XML: fixed transforms (``CoordinateDefinitions``) and the
``VolumeReconstruction`` element, read into plain dataclasses and written back."""

from __future__ import annotations

import math
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.atomic import atomic_path
from ..core.errors import InputFileError, OptionError

INTERPOLATIONS = ("NEAREST_NEIGHBOR", "LINEAR")
COMPOUNDINGS = ("MEAN", "MAXIMUM", "LATEST", "IMPORTANCE_MASK")
OPTIMIZATIONS = ("FULL", "PARTIAL", "NONE")
HOLE_KINDS = ("GAUSSIAN", "GAUSSIAN_ACCUMULATION", "STICK", "NEAREST_NEIGHBOR",
              "DISTANCE_WEIGHT_INVERSE")


@dataclass
class HoleFillingElement:
    """One PLUS hole-filling kernel; tried in order until one succeeds for a hole.

    ``size`` (voxels, odd), ``stdev`` (voxels), ``min_ratio`` (fraction of known voxels
    needed, GAUSSIAN / NEAREST_NEIGHBOR / DISTANCE_WEIGHT_INVERSE / GAUSSIAN_ACCUMULATION),
    ``stick_length_limit`` and ``sticks_to_use`` (STICK).
    """

    kind: str
    size: int = 3
    stdev: float = 1.0
    min_ratio: float = 0.0
    stick_length_limit: int = 9
    sticks_to_use: int = 1


@dataclass
class ReconParams:
    """The ``VolumeReconstruction`` attributes, PLUS's names in snake case.

    This is PLUS's own order, kept as the XML has it: pixel quantities (clip rectangle,
    fan origin and radii) are in image pixels (x, y); ``output_spacing``/``output_origin``
    are in the Reference frame's (x, y, z) order; ``output_extent`` is (x0, x1, y0, y1,
    z0, z1) or None (bounding box of the clipped frames). Everything else in leg3dus is
    (z, y, x), and pixels (row, column): settings given on top of a configuration go
    through ``leg3dus.compound.PlusOverrides``, which turns them into these fields.
    ``optimization`` FULL / PARTIAL / NONE selects PLUS's
    arithmetic (fixed point, doubles, unoptimized path); ``pixel_rejection_threshold``
    None keeps every pixel; ``importance_mask`` is the path of the weight image of
    IMPORTANCE_MASK compounding (relative paths resolve against the configuration's
    folder); ``skip_interval`` inserts every k-th frame; ``fan_angles_auto_detect`` and
    the two ``fan_detect_*`` settings are PLUS's EnableFanAnglesAutoDetect,
    FanAnglesAutoDetectBrightnessThreshold and FanAnglesAutoDetectFilterRadiusPixel;
    ``recompute_output_spacing`` stretches the z spacing so that whole voxels span the
    frames' z extent (PLUS's RecomputeOutputSpacing).
    """

    output_spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)
    output_origin: tuple[float, float, float] | None = None
    output_extent: tuple[int, int, int, int, int, int] | None = None
    clip_rectangle_origin: tuple[int, int] = (0, 0)
    clip_rectangle_size: tuple[int, int] = (0, 0)
    fan_angles_deg: tuple[float, float] = (0.0, 0.0)
    fan_origin_pixel: tuple[float, float] = (0.0, 0.0)
    fan_radius_start_pixel: float = 0.0
    fan_radius_stop_pixel: float = 500.0
    interpolation: str = "NEAREST_NEIGHBOR"
    compounding_mode: str = "MEAN"
    fill_holes: bool = False
    hole_filling: list[HoleFillingElement] = field(default_factory=list)
    image_frame: str = "Image"
    reference_frame: str = "Reference"
    optimization: str = "FULL"
    pixel_rejection_threshold: float | None = None
    importance_mask: str | None = None
    skip_interval: int = 1
    fan_angles_auto_detect: bool = False
    fan_detect_brightness_threshold: float = 30.0
    fan_detect_filter_radius_pixel: int = 10
    recompute_output_spacing: bool = False


@dataclass
class PlusConfig:
    """A PLUS configuration: fixed transforms ``(From, To) -> 4x4`` and reconstruction."""

    transforms: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    recon: ReconParams = field(default_factory=ReconParams)


def _numbers(text: str, n: int, what: str, path, cast=float) -> tuple:
    parts = text.split()
    if len(parts) != n:
        raise InputFileError(f"{path}: {what} needs {n} numbers, found {text!r}")
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        raise InputFileError(f"{path}: {what} must be numbers, found {text!r}") from None
    if not all(math.isfinite(v) for v in values):
        raise InputFileError(f"{path}: {what} must be finite numbers, found {text!r}")
    return tuple(cast(v) for v in values)


def read_config(path: str | os.PathLike) -> PlusConfig:
    """Read a PLUS configuration file.

    Examples
    --------
    >>> cfg = read_config("Config_VolumeReconstruction_SpinePhantom_NN_MEAN.xml")  # doctest: +SKIP
    >>> cfg.recon.interpolation, cfg.recon.compounding_mode                        # doctest: +SKIP
    ('NEAREST_NEIGHBOR', 'MEAN')
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: no such configuration file")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise InputFileError(f"{path}: not valid XML ({exc})") from None
    cfg = PlusConfig()
    for t in root.iter("Transform"):
        src, dst = t.get("From"), t.get("To")
        if not src or not dst or t.get("Matrix") is None:
            raise InputFileError(f"{path}: a Transform needs From, To and Matrix attributes")
        m = np.asarray(_numbers(t.get("Matrix"), 16, f"Transform {src}To{dst}", path))
        cfg.transforms[(src, dst)] = m.reshape(4, 4)
    rec = root.find(".//VolumeReconstruction")
    if rec is not None:
        cfg.recon = _read_recon(rec, path)
    return cfg


def _deprecated_compounding(a: dict, path) -> str:
    """CompoundingMode from PLUS's deprecated Compounding (ON/OFF) and Calculation
    (WEIGHTED_AVERAGE/MAXIMUM), as vtkIGSIOVolumeReconstructor::ReadConfiguration derives
    it when CompoundingMode is absent: MAXIMUM, else LATEST when Compounding is OFF, else
    MEAN."""
    calculation = _choice(a.get("Calculation", "WEIGHTED_AVERAGE"),
                          ("WEIGHTED_AVERAGE", "MAXIMUM"), "Calculation", path)
    compounding = _choice(a.get("Compounding", "ON"), ("ON", "OFF"), "Compounding", path)
    if calculation == "MAXIMUM":
        return "MAXIMUM"
    return "LATEST" if compounding == "OFF" else "MEAN"


def _read_recon(rec: ET.Element, path) -> ReconParams:
    p = ReconParams()
    a = rec.attrib
    if "OutputSpacing" in a:
        p.output_spacing = _numbers(a["OutputSpacing"], 3, "OutputSpacing", path)
    if "OutputOrigin" in a:
        p.output_origin = _numbers(a["OutputOrigin"], 3, "OutputOrigin", path)
    if "OutputExtent" in a:
        p.output_extent = _numbers(a["OutputExtent"], 6, "OutputExtent", path, int)
    if "ClipRectangleOrigin" in a:
        p.clip_rectangle_origin = _numbers(a["ClipRectangleOrigin"], 2, "ClipRectangleOrigin",
                                           path, int)
    if "ClipRectangleSize" in a:
        p.clip_rectangle_size = _numbers(a["ClipRectangleSize"], 2, "ClipRectangleSize",
                                         path, int)
    if "FanAnglesDeg" in a:
        p.fan_angles_deg = _numbers(a["FanAnglesDeg"], 2, "FanAnglesDeg", path)
    elif "FanAngles" in a:  # PLUS's deprecated name for FanAnglesDeg
        p.fan_angles_deg = _numbers(a["FanAngles"], 2, "FanAngles", path)
    # PLUS reads its deprecated FanOrigin and FanDepth as FanOriginPixel and
    # FanRadiusStopPixel "with the same value"; the new names win when both are given
    if "FanOrigin" in a:
        p.fan_origin_pixel = _numbers(a["FanOrigin"], 2, "FanOrigin", path)
    if "FanOriginPixel" in a:
        p.fan_origin_pixel = _numbers(a["FanOriginPixel"], 2, "FanOriginPixel", path)
    if "FanDepth" in a:
        p.fan_radius_stop_pixel = _numbers(a["FanDepth"], 1, "FanDepth", path)[0]
    if "FanRadiusStartPixel" in a:
        p.fan_radius_start_pixel = _numbers(a["FanRadiusStartPixel"], 1,
                                            "FanRadiusStartPixel", path)[0]
    if "FanRadiusStopPixel" in a:
        p.fan_radius_stop_pixel = _numbers(a["FanRadiusStopPixel"], 1,
                                           "FanRadiusStopPixel", path)[0]
    p.interpolation = _choice(a.get("Interpolation", p.interpolation), INTERPOLATIONS,
                              "Interpolation", path)
    p.compounding_mode = _choice(a.get("CompoundingMode", _deprecated_compounding(a, path)),
                                 COMPOUNDINGS, "CompoundingMode", path)
    p.fill_holes = a.get("FillHoles", "OFF").upper() == "ON"
    p.optimization = _choice(a.get("Optimization", p.optimization), OPTIMIZATIONS,
                             "Optimization", path)
    if "PixelRejectionThreshold" in a:
        p.pixel_rejection_threshold = _numbers(a["PixelRejectionThreshold"], 1,
                                               "PixelRejectionThreshold", path)[0]
    if a.get("ImportanceMaskFilename"):
        mask = Path(a["ImportanceMaskFilename"])
        p.importance_mask = str(mask if mask.is_absolute() else Path(path).parent / mask)
    if "SkipInterval" in a:
        p.skip_interval = max(1, _numbers(a["SkipInterval"], 1, "SkipInterval", path, int)[0])
    p.fan_angles_auto_detect = a.get("EnableFanAnglesAutoDetect", "FALSE").upper() in (
        "TRUE", "ON", "1")
    if "FanAnglesAutoDetectBrightnessThreshold" in a:
        p.fan_detect_brightness_threshold = _numbers(
            a["FanAnglesAutoDetectBrightnessThreshold"], 1, "FanAnglesAutoDetectBrightness"
            "Threshold", path)[0]
    if "FanAnglesAutoDetectFilterRadiusPixel" in a:
        p.fan_detect_filter_radius_pixel = _numbers(
            a["FanAnglesAutoDetectFilterRadiusPixel"], 1, "FanAnglesAutoDetectFilterRadius"
            "Pixel", path, int)[0]
    p.recompute_output_spacing = a.get("RecomputeOutputSpacing", "FALSE").upper() in (
        "TRUE", "ON", "1")
    if p.compounding_mode == "IMPORTANCE_MASK" and not p.importance_mask:
        raise InputFileError(f"{path}: CompoundingMode IMPORTANCE_MASK needs an "
                             "ImportanceMaskFilename attribute, found none")
    p.image_frame = a.get("ImageCoordinateFrame", p.image_frame)
    p.reference_frame = a.get("ReferenceCoordinateFrame", p.reference_frame)
    for el in rec.iter("HoleFillingElement"):
        p.hole_filling.append(_read_element(el.attrib, path))
    if p.fill_holes and not p.hole_filling:
        raise InputFileError(f"{path}: FillHoles is ON but no HoleFillingElement is given")
    return p


def _choice(value: str, allowed, what: str, path) -> str:
    value = value.upper()
    if value not in allowed:
        raise InputFileError(f"{path}: {what} must be one of {', '.join(allowed)}, "
                             f"found {value!r}")
    return value


def _read_element(a: dict, path) -> HoleFillingElement:
    kind = _choice(a.get("Type", ""), HOLE_KINDS, "HoleFillingElement Type", path)
    el = HoleFillingElement(kind)
    need = {"STICK": ("StickLengthLimit", "NumberOfSticksToUse"),
            "NEAREST_NEIGHBOR": ("Size", "MinimumKnownVoxelsRatio"),
            "DISTANCE_WEIGHT_INVERSE": ("Size", "MinimumKnownVoxelsRatio")}.get(
        kind, ("Size", "Stdev", "MinimumKnownVoxelsRatio"))
    missing = [n for n in need if n not in a]
    if missing:
        raise InputFileError(f"{path}: HoleFillingElement {kind} lacks {', '.join(missing)}")
    def num(name, default, cast=float):
        return _numbers(a[name], 1, f"HoleFillingElement {name}", path, cast)[0] \
            if name in a else default

    el.size = num("Size", el.size, int)
    el.stdev = num("Stdev", el.stdev)
    el.min_ratio = num("MinimumKnownVoxelsRatio", el.min_ratio)
    el.stick_length_limit = num("StickLengthLimit", el.stick_length_limit, int)
    el.sticks_to_use = num("NumberOfSticksToUse", el.sticks_to_use, int)
    return el


def write_config(cfg: PlusConfig, path: str | os.PathLike) -> Path:
    """Write ``cfg`` as a PLUS configuration file (atomically)."""
    root = ET.Element("PlusConfiguration", version="2.1")
    defs = ET.SubElement(root, "CoordinateDefinitions")
    for (src, dst), m in cfg.transforms.items():
        ET.SubElement(defs, "Transform", From=src, To=dst,
                      Matrix=" ".join(f"{v:.10g}" for v in np.asarray(m).ravel()))
    p = cfg.recon
    attrs = {"OutputSpacing": " ".join(f"{v:g}" for v in p.output_spacing),
             "ClipRectangleOrigin": " ".join(str(v) for v in p.clip_rectangle_origin),
             "ClipRectangleSize": " ".join(str(v) for v in p.clip_rectangle_size),
             "Interpolation": p.interpolation, "CompoundingMode": p.compounding_mode,
             "FillHoles": "ON" if p.fill_holes else "OFF",
             "ImageCoordinateFrame": p.image_frame,
             "ReferenceCoordinateFrame": p.reference_frame,
             "Optimization": p.optimization}
    if p.pixel_rejection_threshold is not None:
        attrs["PixelRejectionThreshold"] = f"{p.pixel_rejection_threshold:g}"
    if p.importance_mask:
        attrs["ImportanceMaskFilename"] = str(p.importance_mask)
    if p.skip_interval != 1:
        attrs["SkipInterval"] = str(p.skip_interval)
    if p.recompute_output_spacing:
        attrs["RecomputeOutputSpacing"] = "TRUE"
    if p.fan_angles_auto_detect:
        attrs.update(EnableFanAnglesAutoDetect="TRUE",
                     FanAnglesAutoDetectBrightnessThreshold=f"{p.fan_detect_brightness_threshold:g}",
                     FanAnglesAutoDetectFilterRadiusPixel=str(p.fan_detect_filter_radius_pixel))
    if p.fan_angles_deg != (0.0, 0.0):
        attrs.update(FanAnglesDeg=" ".join(f"{v:g}" for v in p.fan_angles_deg),
                     FanOriginPixel=" ".join(f"{v:g}" for v in p.fan_origin_pixel),
                     FanRadiusStartPixel=f"{p.fan_radius_start_pixel:g}",
                     FanRadiusStopPixel=f"{p.fan_radius_stop_pixel:g}")
    if p.output_origin is not None:
        attrs["OutputOrigin"] = " ".join(f"{v:.10g}" for v in p.output_origin)
    if p.output_extent is not None:
        attrs["OutputExtent"] = " ".join(str(v) for v in p.output_extent)
    rec = ET.SubElement(root, "VolumeReconstruction", attrs)
    if p.hole_filling:
        hf = ET.SubElement(rec, "HoleFilling")
        for el in p.hole_filling:
            ET.SubElement(hf, "HoleFillingElement", Type=el.kind, Size=str(el.size),
                          Stdev=f"{el.stdev:g}", MinimumKnownVoxelsRatio=f"{el.min_ratio:g}",
                          StickLengthLimit=str(el.stick_length_limit),
                          NumberOfSticksToUse=str(el.sticks_to_use))
    ET.indent(root)
    with atomic_path(path) as tmp:
        ET.ElementTree(root).write(tmp, encoding="utf-8", xml_declaration=False)
    return Path(path)


def check_params(p: ReconParams) -> None:
    """Raise :class:`OptionError` for reconstruction parameters that cannot work."""
    if min(p.output_spacing) <= 0:
        raise OptionError(f"output spacing must be positive, found {p.output_spacing}")
    _choice(p.interpolation, INTERPOLATIONS, "interpolation", "options")
    _choice(p.compounding_mode, COMPOUNDINGS, "compounding", "options")
    _choice(p.optimization, OPTIMIZATIONS, "optimization", "options")
    if p.skip_interval < 1:
        raise OptionError(f"skip interval must be >= 1, found {p.skip_interval}")
    if p.compounding_mode == "IMPORTANCE_MASK" and not p.importance_mask:
        raise OptionError("compounding IMPORTANCE_MASK needs an importance mask image")
    for el in p.hole_filling:
        if el.kind != "STICK" and (el.size < 1 or el.size % 2 == 0):
            raise OptionError(f"hole-filling size must be an odd number >= 1, found {el.size}")
