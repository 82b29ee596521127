"""The 106-point face layout of AnnVI, built from MediaPipe FaceMesh vertices.

AnnVI's landmarks come from Face++ (106 points). No offline detector gives that
layout, so this module defines each of the 106 points as a fixed weighted sum of
FaceMesh vertices (478 with iris refinement): an approximation of Face++'s
layout, not a reproduction of it.

Layout (the Face++ / SenseTime 106-point order; "left" and "right" are IMAGE
left and right, so the "left eye" is the subject's right eye in an unmirrored
video):

  0-32    face contour, image left to right over the chin (16 = chin), from
          about eye height on the left to eye height on the right
  33-37   left brow, top edge, left to right (outer to inner)
  38-42   right brow, top edge, left to right (inner to outer)
  43-46   nose bridge, top (between the eyes) to the tip (46)
  47-51   nose bottom, left to right (49 = below the septum)
  52-57   left eye: 52 left corner, 53 54 upper lid, 55 right corner,
          56 57 lower lid (clockwise in the image)
  58-63   right eye: 58 left corner, 59 60 upper lid, 61 right corner,
          62 63 lower lid
  64-67   left brow, lower edge, left to right
  68-71   right brow, lower edge, left to right
  72 73   left eye, upper / lower lid middle;  74 left eye centre
  75 76   right eye, upper / lower lid middle; 77 right eye centre
  78 79   nose side, upper (left / right); 80 81 nose side, lower;
  82 83   nose wings, outer (left / right)
  84-95   outer lips, clockwise from the left corner (84; 87 = top middle,
          90 = right corner, 93 = bottom middle)
  96-103  inner lips, clockwise from the left corner (96; 98 = upper middle,
          100 = right corner, 102 = lower middle)
  104 105 pupils (left, right): FaceMesh's iris centres

Sources for the layout: the index names of a Face++ 106-point SDK wrapper
(eye corners 52/55 and 58/61, lid middles 72/73 and 75/76, eye centres 74/77,
nose tip 46, mouth corners 84/90, lip middles 87/93/98/102, chin 16) and the
AnnVI face mask of docs/paper_and_code.md §4 (contour 0-32 then 41 down to 34 traces the brows'
top edge from right to left). FaceMesh vertex ids are those of MediaPipe's
canonical face model; contours and lips are placed evenly (by vertex index)
along FaceMesh's own vertex chains.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


NUM_MESH_REFINED = 478  # FaceMesh with iris refinement.
NUM_MESH_PLAIN = 468  # FaceMesh without iris points.

# One output point: (FaceMesh vertex, weight) pairs whose weights sum to 1.
Source = tuple[tuple[int, float], ...]


def _vertex(index: int) -> Source:
  return ((index, 1.0),)


def _mean(*indices: int) -> Source:
  return tuple((index, 1.0 / len(indices)) for index in indices)


def _along(chain: Sequence[int], count: int) -> list[Source]:
  """`count` points spaced evenly by vertex index along a chain, ends included."""
  segments = len(chain) - 1
  sources = []
  for k in range(count):
    start, rest = divmod(k * segments, count - 1)
    if rest == 0:
      sources.append(_vertex(chain[start]))
    else:
      frac = rest / (count - 1)
      sources.append(((chain[start], 1.0 - frac), (chain[start + 1], frac)))
  return sources


# FaceMesh vertex chains, each running image left to right.
_JAW_LEFT = (127, 234, 93, 132, 58, 172, 136, 150, 149, 176, 148, 152)
_JAW_RIGHT = (152, 377, 400, 378, 379, 365, 397, 288, 361, 323, 454, 356)
_NOSE_BRIDGE = (6, 197, 195, 5, 4, 1)  # top to tip
_OUTER_UPPER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
_OUTER_LOWER = (291, 375, 321, 405, 314, 17, 84, 181, 91, 146, 61)  # right to left
_INNER_UPPER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
_INNER_LOWER = (308, 324, 318, 402, 317, 14, 87, 178, 88, 95, 78)  # right to left

SOURCES: tuple[Source, ...] = tuple(
    _along(_JAW_LEFT, 17)  # 0-16
    + _along(_JAW_RIGHT, 17)[1:]  # 17-32
    + [_vertex(i) for i in (70, 63, 105, 66, 107)]  # 33-37
    + [_vertex(i) for i in (336, 296, 334, 293, 300)]  # 38-42
    + _along(_NOSE_BRIDGE, 4)  # 43-46
    + [_vertex(i) for i in (98, 97, 2, 326, 327)]  # 47-51
    + [_vertex(i) for i in (33, 160, 158, 133, 153, 144)]  # 52-57
    + [_vertex(i) for i in (362, 385, 387, 263, 373, 380)]  # 58-63
    + [_vertex(i) for i in (53, 52, 65, 55)]  # 64-67
    + [_vertex(i) for i in (285, 295, 282, 283)]  # 68-71
    + [_vertex(159), _vertex(145), _mean(33, 133, 159, 145)]  # 72-74
    + [_vertex(386), _vertex(374), _mean(362, 263, 386, 374)]  # 75-77
    + [_vertex(i) for i in (174, 399, 198, 420, 129, 358)]  # 78-83
    + _along(_OUTER_UPPER, 7)  # 84-90
    + _along(_OUTER_LOWER, 7)[1:-1]  # 91-95
    + _along(_INNER_UPPER, 5)  # 96-100
    + _along(_INNER_LOWER, 5)[1:-1]  # 101-103
    + [_vertex(468), _vertex(473)]  # 104-105
)

# Named index groups of the 106-point layout.
CONTOUR = tuple(range(0, 33))
CHIN = 16
LEFT_BROW = tuple(range(33, 38)) + tuple(range(64, 68))
RIGHT_BROW = tuple(range(38, 43)) + tuple(range(68, 72))
BROWS = LEFT_BROW + RIGHT_BROW
NOSE_BRIDGE = tuple(range(43, 47))
NOSE_BOTTOM = tuple(range(47, 52))
NOSE_TIP = 46
LEFT_EYE = (52, 53, 72, 54, 55, 56, 73, 57)  # outline, clockwise
RIGHT_EYE = (58, 59, 75, 60, 61, 62, 76, 63)  # outline, clockwise
LEFT_EYE_CORNERS = (52, 55)
RIGHT_EYE_CORNERS = (58, 61)
LEFT_EYE_LIDS = (72, 73)  # upper, lower middle
RIGHT_EYE_LIDS = (75, 76)
LEFT_EYE_CENTRE = 74
RIGHT_EYE_CENTRE = 77
PUPILS = (104, 105)
OUTER_LIPS = tuple(range(84, 96))  # outline, clockwise
INNER_LIPS = tuple(range(96, 104))  # outline, clockwise
MOUTH_CORNERS = (84, 90)
MOUTH_OPEN = (98, 102)  # upper / lower inner-lip middle
# The face mask of docs/paper_and_code.md §4: contour 0-32, then the brows' top edge from 41 down to 34.
FACE_MASK_POLYGON = CONTOUR + tuple(range(41, 33, -1))


def _weights(sources: Sequence[Source], num_vertices: int) -> np.ndarray:
  matrix = np.zeros((len(sources), num_vertices), np.float64)
  for row, source in enumerate(sources):
    for vertex, weight in source:
      matrix[row, vertex] += weight
  return matrix


# Without iris points the pupils fall back to the eye centres.
_WEIGHTS = {
    NUM_MESH_REFINED: _weights(SOURCES, NUM_MESH_REFINED),
    NUM_MESH_PLAIN: _weights(
        SOURCES[:104] + (SOURCES[LEFT_EYE_CENTRE], SOURCES[RIGHT_EYE_CENTRE]),
        NUM_MESH_PLAIN),
}


def from_facemesh(mesh: np.ndarray) -> np.ndarray:
  """Maps FaceMesh vertices (468 or 478, 2+) to the 106 points, shape (106, 2)."""
  mesh = np.asarray(mesh, np.float64)
  if mesh.ndim != 2 or mesh.shape[0] not in _WEIGHTS or mesh.shape[1] < 2:
    raise ValueError(
        f'expected FaceMesh vertices of shape (468 or 478, >=2), got {mesh.shape}')
  return _WEIGHTS[mesh.shape[0]] @ mesh[:, :2]
