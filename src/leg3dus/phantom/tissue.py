"""Tissue codes of the phantom and their acoustic properties.

A tissue code is a uint8. The low bits name the tissue; the bit :data:`STRIATION` marks
a point of a muscle that lies on a fascicle boundary (perimysium), which images brighter
than the rest of the muscle, so ``code & ~STRIATION`` is the tissue itself. Each tissue
has a label value (0/100/150/200 of :mod:`leg3dus.core.labels`), an echogenicity (scatterer
amplitude, dB relative to muscle) and an attenuation (dB/cm/MHz, one way).

Examples
--------
>>> int(label_lut()[GM | STRIATION]), NAMES[SOL]
(150, 'soleus')
"""

from __future__ import annotations

import numpy as np

from ..core.labels import BY_NAME

GEL = 0  #: coupling water/gel around the leg (anechoic)
SKIN = 1
FAT = 2  #: subcutaneous fat
SEPTUM = 3  #: connective-tissue septum inside the fat
FASCIA = 4  #: deep (crural) fascia and the fascia under the soleus
GM = 5  #: gastrocnemius medialis
GL = 6  #: gastrocnemius lateralis
SOL = 7  #: soleus
APONEUROSIS = 8  #: aponeuroses between GM/GL and SOL and between GM and GL
TENDON = 9  #: Achilles tendon
DEEP = 10  #: deep posterior compartment and other muscles
BONE = 11  #: tibia and fibula
STRIATION = 64  #: flag: the point lies on a fascicle boundary of the muscle
N_CODES = 128

NAMES = {GEL: "gel", SKIN: "skin", FAT: "fat", SEPTUM: "septum", FASCIA: "fascia",
         GM: "gastrocnemius medialis", GL: "gastrocnemius lateralis", SOL: "soleus",
         APONEUROSIS: "aponeurosis", TENDON: "tendon", DEEP: "deep compartment",
         BONE: "bone"}
MUSCLES = (GM, GL, SOL, DEEP)  #: tissues that carry fascicle striations

#: Scatterer amplitude in dB relative to muscle, per tissue (striated muscle separately).
ECHO_DB = {GEL: -80.0, SKIN: 13.0, FAT: -14.0, SEPTUM: 9.0, FASCIA: 16.0, GM: 0.0,
           GL: 0.0, SOL: -1.0, APONEUROSIS: 15.0, TENDON: 6.0, DEEP: -3.0, BONE: 24.0}
STRIATION_DB = 8.0  #: extra brightness of a fascicle boundary over its muscle

#: One-way attenuation in dB/cm/MHz (soft tissue 0.5-1.1; cortical bone blocks the beam).
ATTENUATION_DB_CM_MHZ = {GEL: 0.0, SKIN: 0.8, FAT: 0.5, SEPTUM: 0.8, FASCIA: 0.8,
                         GM: 0.7, GL: 0.7, SOL: 0.7, APONEUROSIS: 0.8, TENDON: 1.0,
                         DEEP: 0.7, BONE: 20.0}

_LABEL_OF = {GM: BY_NAME["GM"].value, GL: BY_NAME["GL"].value, SOL: BY_NAME["SOL"].value}


def base(code: np.ndarray) -> np.ndarray:
    """The tissue of each code with the striation flag removed."""
    return np.asarray(code) & np.uint8(~STRIATION & 0xFF)


def label_lut() -> np.ndarray:
    """A 256-entry uint8 table: tissue code -> label value (0, 100, 150 or 200)."""
    lut = np.zeros(256, np.uint8)
    for tissue, value in _LABEL_OF.items():
        lut[tissue] = value
        lut[tissue | STRIATION] = value
    return lut


def echo_lut() -> np.ndarray:
    """A 256-entry float32 table: tissue code -> scatterer amplitude (linear, muscle = 1)."""
    lut = np.zeros(256, np.float32)
    for tissue, db in ECHO_DB.items():
        lut[tissue] = 10.0 ** (db / 20.0)
        lut[tissue | STRIATION] = 10.0 ** ((db + (STRIATION_DB if tissue in MUSCLES else 0.0))
                                           / 20.0)
    return lut


def attenuation_lut() -> np.ndarray:
    """A 256-entry float32 table: tissue code -> one-way attenuation in dB/cm/MHz."""
    lut = np.zeros(256, np.float32)
    for tissue, a in ATTENUATION_DB_CM_MHZ.items():
        lut[tissue] = a
        lut[tissue | STRIATION] = a
    return lut
