# Copyright 2026 The msqnet authors.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""A generated multi-label, actor-agnostic action recognition benchmark.

Every clip shows one actor (a shape or a small multi-part sprite of a given kind, colour, texture and size) on a static
background, doing 1 to 3 actions at once. The labels are exactly what is drawn: the trajectory, scale, angle, visibility
and colour of the actor are computed from the actions, so a clip labelled "moving left" ends left of where it started,
a clip with no motion label does not move, one without "rotating" does not rotate, and so on.

Train and test clips are split by actor kind: the kinds in `TEST_ACTORS` never appear in training, which is what the
MSQNet paper calls actor-agnostic recognition (recognising the actions of actors the model has not seen).

Rules that keep combinations physically possible (`ACTION_GROUPS`: at most one action of each group per clip):

- moving left / moving right (horizontal drift),
- moving up / moving down / bouncing (vertical motion: a bouncing actor comes back to its floor, it does not drift),
- rotating clockwise / rotating anticlockwise,
- growing / shrinking,
- blinking, shaking and changing colour go with anything.

Actions are balanced: the number of actions of a clip is uniform on {1, 2, 3} and, for each number, groups are drawn
with inclusion probability proportional to their size (systematic sampling over a random order of the groups), then
one action uniformly inside each group, so every action is in one clip out of six on average. Actor kind, colour,
texture, size and background are drawn independently of the actions (no confounds).

The module imports only the standard library, `numpy`, `av` and `tqdm`: it is a light tool, usable without torch.
Command line: `msqnet-generate-benchmark --output_dir DIR` or `python -m modeling_msqnet.data.synthetic_actions --output_dir DIR`.
"""

import argparse
import colorsys
import concurrent.futures
import functools
import json
import logging
import math
import multiprocessing
import os
import time
from collections import Counter
from dataclasses import dataclass

import av
import numpy as np
from tqdm.auto import tqdm


logger = logging.getLogger(__name__)

ACTIONS = (
    "moving left",
    "moving right",
    "moving up",
    "moving down",
    "bouncing",
    "rotating clockwise",
    "rotating anticlockwise",
    "growing",
    "shrinking",
    "blinking",
    "shaking",
    "changing colour",
)

# At most one action of each group per clip (the groups partition `ACTIONS`).
ACTION_GROUPS = (
    ("moving left", "moving right"),
    ("moving up", "moving down", "bouncing"),
    ("rotating clockwise", "rotating anticlockwise"),
    ("growing", "shrinking"),
    ("blinking",),
    ("shaking",),
    ("changing colour",),
)

MAX_ACTIONS_PER_CLIP = 3

TRAIN_ACTORS = ("disc", "square", "triangle", "star", "cross", "ellipse", "person")
TEST_ACTORS = ("ring", "heart", "animal")
ACTORS = TRAIN_ACTORS + TEST_ACTORS
SPLITS = ("train", "test")

# Saturated, bright actor colours (hue in [0, 1)); backgrounds are dark and greyish so the actor always stands out.
COLOURS = {
    "red": 0.0,
    "orange": 0.08,
    "yellow": 0.15,
    "green": 0.33,
    "cyan": 0.5,
    "blue": 0.62,
    "purple": 0.75,
    "pink": 0.88,
}
TEXTURES = ("solid", "stripes", "checker", "noise", "gradient")
BACKGROUNDS = ("solid", "gradient", "noise", "stripes", "checker")

# Diameter of the actor (of the circle that bounds it) as a fraction of the frame side.
ACTOR_SIZE_RANGE = (0.28, 0.4)

VIDEO_CODEC = "libx264"
VIDEO_PIX_FMT = "yuv420p"
VIDEO_CRF = 18
# With B-frames and macroblock-tree rate control, x264 gave different bitstreams for the same frames from one encode
# to the next (in one process too); without them the videos are byte-identical and decode to identical frames.
VIDEO_X264_PARAMS = "bframes=0:mbtree=0"

# Motion settings, as fractions of the frame side unless said otherwise.
_DRIFT_RANGE = (0.38, 0.5)  # total displacement of "moving ..." over the clip
_BOUNCE_HEIGHT_RANGE = (0.22, 0.28)
# Large enough to stay visible on small frames (2.5 to 3 pixels at 32x32).
_SHAKE_AMPLITUDE_RANGE = (0.08, 0.1)
_GROWTH_RANGE = (1.7, 2.0)  # ratio of the last to the first linear size of "growing" (inverse for "shrinking")
# Per-frame rotation, kept below half the smallest symmetry period of the shapes (72 degrees for the star), so that
# the direction of rotation is never ambiguous.
_ROTATION_SPEED_RANGE_DEGREES = (22.0, 30.0)
# "changing colour" switches the hue abruptly every few frames, by a large step (fraction of the hue circle).
_COLOUR_RUN_RANGE = (2, 3)
_HUE_STEP_RANGE = (0.25, 0.4)
_ACTOR_VALUES = (0.95, 0.65)  # HSV value of the actor colour: always the first, and the second on alternate runs
# Every actor wears a dark round marker off its centroid (like an eye), which shows turning whatever the shape.
_MARKER_RADIUS = 0.2
_MARKER_SHADE = 0.15
_TEXTURE_TINT = 0.5  # how far the texture pattern mixes the actor colour with white


def _check_count(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}, got {value!r}.")
    return int(value)


def are_compatible(actions) -> bool:
    """Whether `actions` (names from `ACTIONS`) can be drawn in one clip: at most one action from each group."""
    actions = tuple(actions)
    if len(set(actions)) != len(actions):
        return False
    return all(sum(action in group for action in actions) <= 1 for group in ACTION_GROUPS)


@dataclass(frozen=True)
class ClipSpec:
    """
    What one clip shows. `render_clip` turns it into frames; every random detail of the drawing (start position,
    speeds, background and texture patterns) comes from `seed`, so a spec always renders the same frames.

    Args:
        actor (`str`):
            Actor kind, one of `ACTORS`.
        colour (`str`):
            Actor colour, a key of `COLOURS`.
        texture (`str`):
            Actor texture, one of `TEXTURES`. The pattern is attached to the actor (it moves, turns and scales with it).
        size (`float`):
            Diameter of the actor (of the circle that bounds it) as a fraction of the frame side, at the middle of
            its growth for "growing" and "shrinking".
        background (`str`):
            Background kind, one of `BACKGROUNDS`. Backgrounds are static.
        actions (`tuple[str, ...]`):
            The 1 to `MAX_ACTIONS_PER_CLIP` actions the actor does at once, names from `ACTIONS` in that order,
            compatible according to `ACTION_GROUPS`.
        seed (`int`):
            Seed of the drawing details.
    """

    actor: str
    colour: str
    texture: str
    size: float
    background: str
    actions: tuple
    seed: int

    def __post_init__(self):
        object.__setattr__(self, "actions", tuple(self.actions))
        if self.actor not in ACTORS:
            raise ValueError(f"ClipSpec.actor must be one of {ACTORS}, got {self.actor!r}.")
        if self.colour not in COLOURS:
            raise ValueError(f"ClipSpec.colour must be one of {tuple(COLOURS)}, got {self.colour!r}.")
        if self.texture not in TEXTURES:
            raise ValueError(f"ClipSpec.texture must be one of {TEXTURES}, got {self.texture!r}.")
        if self.background not in BACKGROUNDS:
            raise ValueError(f"ClipSpec.background must be one of {BACKGROUNDS}, got {self.background!r}.")
        if not 0.05 <= self.size <= 0.4:
            raise ValueError(f"ClipSpec.size must be a fraction of the frame side in [0.05, 0.4], got {self.size}.")
        unknown = [action for action in self.actions if action not in ACTIONS]
        if unknown:
            raise ValueError(f"ClipSpec.actions has unknown actions {unknown}; the vocabulary is {ACTIONS}.")
        if not 1 <= len(self.actions) <= MAX_ACTIONS_PER_CLIP:
            raise ValueError(
                f"ClipSpec.actions must hold 1 to {MAX_ACTIONS_PER_CLIP} actions, got {len(self.actions)}: {self.actions}."
            )
        if not are_compatible(self.actions):
            raise ValueError(
                f"ClipSpec.actions {self.actions} are not compatible: at most one action of each of {ACTION_GROUPS}."
            )
        if list(self.actions) != sorted(self.actions, key=ACTIONS.index):
            raise ValueError(f"ClipSpec.actions must follow the order of ACTIONS, got {self.actions}.")


def sample_actions(rng: np.random.Generator) -> tuple:
    """
    Draws 1 to 3 compatible actions, in `ACTIONS` order. The number of actions is uniform on {1, 2, 3} and every
    action has the same marginal probability (1/6), whatever the sizes of the groups.
    """
    num_actions = int(rng.integers(1, MAX_ACTIONS_PER_CLIP + 1))
    # Systematic sampling: group g is chosen with probability num_actions * len(g) / len(ACTIONS) (< 1, so at most
    # once); the random order spreads the co-occurrences over all compatible combinations.
    order = rng.permutation(len(ACTION_GROUPS))
    inclusion = np.array([num_actions * len(ACTION_GROUPS[g]) / len(ACTIONS) for g in order])
    boundaries = np.cumsum(inclusion)
    points = rng.random() + np.arange(num_actions)
    chosen = np.minimum(np.searchsorted(boundaries, points, side="right"), len(order) - 1)
    actions = []
    for position in chosen:
        group = ACTION_GROUPS[order[position]]
        actions.append(group[int(rng.integers(len(group)))])
    return tuple(sorted(actions, key=ACTIONS.index))


def check_colours(colours) -> tuple:
    """`colours` (names of `COLOURS`, `None` for all of them) as a tuple in `COLOURS` order; a clear error otherwise."""
    if colours is None:
        return tuple(COLOURS)
    colours = tuple(colours)
    unknown = [colour for colour in colours if colour not in COLOURS]
    if unknown or not colours or len(set(colours)) != len(colours):
        raise ValueError(f"`colours` must be distinct names from {tuple(COLOURS)}, got {list(colours)}.")
    return tuple(colour for colour in COLOURS if colour in colours)


def sample_clip_spec(rng: np.random.Generator, split: str, colours=None) -> ClipSpec:
    """
    Draws the spec of one clip of `split` ("train" draws its actor among `TRAIN_ACTORS`, "test" among `TEST_ACTORS`).
    Everything but the actor kind is drawn the same way in both splits. The colour is drawn among `colours` (names of
    `COLOURS`, all of them by default); a palette changes the colours only, every other draw stays the same.
    """
    if split not in SPLITS:
        raise ValueError(f"`split` must be one of {SPLITS}, got {split!r}.")
    palette = check_colours(colours)
    actors = TRAIN_ACTORS if split == "train" else TEST_ACTORS
    actor = actors[int(rng.integers(len(actors)))]
    colour = palette[int(rng.integers(len(palette)))]
    texture = TEXTURES[int(rng.integers(len(TEXTURES)))]
    size = round(float(rng.uniform(*ACTOR_SIZE_RANGE)), 3)
    background = BACKGROUNDS[int(rng.integers(len(BACKGROUNDS)))]
    actions = sample_actions(rng)
    seed = int(rng.integers(2**31 - 1))
    return ClipSpec(actor, colour, texture, size, background, actions, seed)


def sample_split_specs(split: str, num_clips: int, seed: int = 0, colours=None) -> list:
    """
    The specs of the `num_clips` clips of `split` that `generate_benchmark(..., seed=seed, colours=colours)` writes,
    in order.
    """
    if split not in SPLITS:
        raise ValueError(f"`split` must be one of {SPLITS}, got {split!r}.")
    palette = check_colours(colours)
    rng = np.random.default_rng([_check_count("seed", seed, 0), SPLITS.index(split)])
    return [sample_clip_spec(rng, split, palette) for _ in range(_check_count("num_clips", num_clips, 0))]


# Shapes: inside tests in actor coordinates (u to the right, v downwards, the shape roughly within the unit circle).


def _capsule(u, v, start, end, radius):
    """Inside the segment `start`-`end` thickened by `radius`."""
    (au, av_), (bu, bv) = start, end
    du, dv = bu - au, bv - av_
    h = np.clip(((u - au) * du + (v - av_) * dv) / (du * du + dv * dv), 0.0, 1.0)
    return (u - au - h * du) ** 2 + (v - av_ - h * dv) ** 2 <= radius * radius


def _disc(u, v):
    # The off-centre hole makes the rotation of a disc visible.
    return (u * u + v * v <= 1.0) & ((u - 0.48) ** 2 + v * v > 0.36**2)


def _square(u, v):
    return np.maximum(np.abs(u), np.abs(v)) <= 0.7


def _triangle(u, v):
    # Equilateral, pointing up: three half-planes at distance 0.5 from the centre.
    inside = v <= 0.5
    for angle in (math.radians(210), math.radians(330)):
        inside &= u * math.cos(angle) + v * math.sin(angle) <= 0.5
    return inside


def _star(u, v):
    radius = np.sqrt(u * u + v * v)
    # Position between two points of the star (0 and 1 at points, 0.5 at the inner corner), points up.
    phase = np.mod((np.arctan2(v, u) + math.pi / 2) / (2 * math.pi / 5), 1.0)
    inner = 0.42
    return radius <= inner + (1.0 - inner) * np.abs(1.0 - 2.0 * phase)


def _cross(u, v):
    abs_u, abs_v = np.abs(u), np.abs(v)
    return ((abs_u <= 0.3) & (abs_v <= 0.95)) | ((abs_v <= 0.3) & (abs_u <= 0.95))


def _ellipse(u, v):
    return u * u + (v / 0.5) ** 2 <= 1.0


def _person(u, v):
    inside = (u * u + (v + 0.72) ** 2 <= 0.24**2) | ((np.abs(u) <= 0.22) & (v >= -0.5) & (v <= 0.28))
    for side in (-1.0, 1.0):
        inside |= _capsule(u, v, (0.18 * side, -0.4), (0.6 * side, 0.05), 0.11)  # arm
        inside |= _capsule(u, v, (0.12 * side, 0.2), (0.3 * side, 0.92), 0.12)  # leg
    return inside


def _ring(u, v):
    # A Landolt C: the gap makes the rotation of a ring visible.
    radius_squared = u * u + v * v
    return (radius_squared <= 1.0) & (radius_squared >= 0.58**2) & ~((u > 0) & (np.abs(v) < 0.3))


def _heart(u, v):
    x, y = 1.15 * u, -1.15 * v + 0.15
    return (x * x + y * y - 1.0) ** 3 - x * x * y**3 <= 0.0


def _animal(u, v):
    # A quadruped seen from the side: body, head, ear, four legs and a tail.
    inside = ((u / 0.6) ** 2 + (v / 0.3) ** 2 <= 1.0) | ((u - 0.68) ** 2 + (v + 0.32) ** 2 <= 0.23**2)
    inside |= _capsule(u, v, (0.6, -0.5), (0.66, -0.68), 0.08)
    for leg_u in (-0.42, -0.2, 0.2, 0.42):
        inside |= _capsule(u, v, (leg_u, 0.1), (leg_u, 0.72), 0.1)
    inside |= _capsule(u, v, (-0.55, -0.05), (-0.9, -0.38), 0.08)
    return inside


_SHAPES = {
    "disc": _disc,
    "square": _square,
    "triangle": _triangle,
    "star": _star,
    "cross": _cross,
    "ellipse": _ellipse,
    "person": _person,
    "ring": _ring,
    "heart": _heart,
    "animal": _animal,
}


@functools.lru_cache(maxsize=None)
def _shape_frame(actor: str) -> tuple:
    """Centroid and bounding radius (about the centroid) of a shape, so that every actor turns and scales about its
    centroid (no drift without a motion label) and fits in a circle of radius 1."""
    grid = np.linspace(-1.4, 1.4, 561)
    u, v = np.meshgrid(grid, grid)
    inside = _SHAPES[actor](u, v)
    centre_u, centre_v = float(u[inside].mean()), float(v[inside].mean())
    radius = float(np.sqrt((u[inside] - centre_u) ** 2 + (v[inside] - centre_v) ** 2).max()) + grid[1] - grid[0]
    return centre_u, centre_v, radius


def _actor_inside(actor: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    centre_u, centre_v, radius = _shape_frame(actor)
    return _SHAPES[actor](u * radius + centre_u, v * radius + centre_v)


@functools.lru_cache(maxsize=None)
def _marker_position(actor: str) -> tuple:
    """Where the marker of an actor goes (actor coordinates): the point farthest from the centroid (at most 0.55)
    around which the marker and a rim lie inside the shape; for thin shapes, the farthest point (at most 0.75) where
    nearly all of the marker does (the rest is not drawn)."""
    for max_distance, rim, min_inside in ((0.6, 0.06, 1.0), (0.75, 0.0, 0.9)):
        offsets = np.linspace(-1.0, 1.0, 41) * (_MARKER_RADIUS + rim)
        offset_u, offset_v = np.meshgrid(offsets, offsets)
        in_disc = offset_u**2 + offset_v**2 <= (_MARKER_RADIUS + rim) ** 2
        offset_u, offset_v = offset_u[in_disc], offset_v[in_disc]
        for distance in np.arange(max_distance, 0.249, -0.025):
            for angle in np.radians(np.arange(0, 360, 5)):
                centre_u, centre_v = distance * math.cos(angle), distance * math.sin(angle)
                if _actor_inside(actor, centre_u + offset_u, centre_v + offset_v).mean() >= min_inside:
                    return float(centre_u), float(centre_v)
    raise ValueError(f"No room for a marker on actor {actor!r}.")


def _texture_pattern(texture: str, u: np.ndarray, v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Pattern in [0, 1] over actor coordinates (0 keeps the actor colour, 1 mixes it the most with white)."""
    if texture == "solid":
        return np.zeros_like(u)
    if texture == "stripes":
        angle, frequency, phase = rng.uniform(0, math.pi), rng.uniform(1.2, 1.8), rng.uniform(0, 2)
        return (np.floor((u * math.cos(angle) + v * math.sin(angle)) * frequency + phase) % 2).astype(u.dtype)
    if texture == "checker":
        frequency, phase_u, phase_v = rng.uniform(1.2, 1.8), rng.uniform(0, 2), rng.uniform(0, 2)
        return ((np.floor(u * frequency + phase_u) + np.floor(v * frequency + phase_v)) % 2).astype(u.dtype)
    if texture == "noise":
        cells = 6
        values = rng.random((cells, cells)).astype(u.dtype)
        rows = np.clip(((v + 1) / 2 * cells).astype(np.int64), 0, cells - 1)
        columns = np.clip(((u + 1) / 2 * cells).astype(np.int64), 0, cells - 1)
        return values[rows, columns]
    # "gradient": light to dark along a random direction of the actor.
    angle = rng.uniform(0, 2 * math.pi)
    return np.clip((u * math.cos(angle) + v * math.sin(angle) + 1) / 2, 0, 1)


def _hsv_to_rgb(hue: float, saturation: float, value: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(hue % 1.0, saturation, value), dtype=np.float32)


def _background(kind: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """A static (size, size, 3) float background: dark and greyish, so that actors (bright, saturated) stand out."""

    def dark_colour():
        return _hsv_to_rgb(rng.random(), rng.uniform(0.0, 0.4), rng.uniform(0.08, 0.42))

    first = dark_colour()
    if kind == "solid":
        return np.broadcast_to(first, (size, size, 3)).copy()
    second = np.clip(first + rng.uniform(-0.15, 0.15, 3).astype(np.float32), 0.0, 0.45)
    coordinates = (np.arange(size, dtype=np.float32) + 0.5) / size
    y, x = coordinates[:, None], coordinates[None, :]
    if kind == "gradient":
        angle = rng.uniform(0, 2 * math.pi)
        ramp = (x - 0.5) * math.cos(angle) + (y - 0.5) * math.sin(angle)
        weight = np.clip(ramp / math.sqrt(2) + 0.5, 0, 1)[..., None]
    elif kind == "stripes":
        angle, period = rng.uniform(0, math.pi), rng.uniform(0.12, 0.2)
        weight = (np.floor((x * math.cos(angle) + y * math.sin(angle)) / period) % 2)[..., None]
    elif kind == "checker":
        period = rng.uniform(0.12, 0.2)
        weight = ((np.floor(x / period) + np.floor(y / period)) % 2)[..., None]
    else:  # "noise": smooth blotches (bilinear upsampling of a coarse grid) plus fine grain
        cells = 5
        coarse = rng.random((cells, cells)).astype(np.float32)
        interpolation = np.stack(
            [np.interp(coordinates * (cells - 1), np.arange(cells), np.eye(cells)[k]) for k in range(cells)], axis=1
        ).astype(np.float32)
        weight = (interpolation @ coarse @ interpolation.T)[..., None]
        grain = rng.uniform(-0.03, 0.03, (size, size, 1)).astype(np.float32)
        return np.clip(first + weight * (second - first) + grain, 0, 1)
    return (first + weight * (second - first)).astype(np.float32)


@dataclass
class _Motion:
    """Per-frame state of the actor: centre (pixels), radius (pixels), angle (radians, clockwise on screen),
    visibility, hue and value (HSV brightness)."""

    centre_x: np.ndarray
    centre_y: np.ndarray
    radius: np.ndarray
    angle: np.ndarray
    visible: np.ndarray
    hue: np.ndarray
    value: np.ndarray


def _plan_motion(spec: ClipSpec, num_frames: int, size: int, rng: np.random.Generator) -> _Motion:
    actions = set(spec.actions)
    progress = np.linspace(0.0, 1.0, num_frames)

    # Scale: geometric interpolation, so that the size changes at a steady rate.
    base_radius = spec.size * size / 2
    growth = rng.uniform(*_GROWTH_RANGE)
    if "growing" in actions:
        radius = base_radius * growth ** (progress - 0.5)
    elif "shrinking" in actions:
        radius = base_radius * growth ** (0.5 - progress)
    else:
        radius = np.full(num_frames, base_radius)
    max_radius = float(radius.max())

    # Shaking: independent random jitter of both axes at every frame (visible at any frame stride), none at the first
    # and last frames so that shaking alone has no drift.
    shake_x = np.zeros(num_frames)
    shake_y = np.zeros(num_frames)
    shake_amplitude = rng.uniform(*_SHAKE_AMPLITUDE_RANGE) * size
    shake_signs = rng.choice([-1.0, 1.0], size=(2, num_frames))
    if "shaking" in actions and num_frames > 2:
        shake_x[1:-1] = shake_amplitude * shake_signs[0, 1:-1]
        shake_y[1:-1] = shake_amplitude * shake_signs[1, 1:-1]
    margin = max_radius + 1.0 + (shake_amplitude if "shaking" in actions else 0.0)
    room = size - 2 * margin  # how far the centre can travel along one axis

    def axis_track(negative: str, positive: str, draw_drift: float, draw_start: float) -> np.ndarray:
        drift = min(draw_drift * size, room) if {negative, positive} & actions else 0.0
        start = margin + draw_start * (room - drift)
        if positive in actions:
            return start + drift * progress
        if negative in actions:
            return start + drift * (1.0 - progress)
        return np.full(num_frames, start)

    draws = rng.uniform(*_DRIFT_RANGE, size=2), rng.random(2)
    centre_x = axis_track("moving left", "moving right", draws[0][0], draws[1][0])
    centre_y = axis_track("moving up", "moving down", draws[0][1], draws[1][1])

    # Bouncing: |sin| arcs that leave from and come back to a floor (no net vertical drift).
    bounce_height = min(rng.uniform(*_BOUNCE_HEIGHT_RANGE) * size, room)
    num_bounces = min(int(rng.integers(2, 4)), max(1, (num_frames - 1) // 5))
    floor = margin + bounce_height + rng.random() * (room - bounce_height)
    if "bouncing" in actions:
        centre_y = floor - bounce_height * np.abs(np.sin(math.pi * num_bounces * progress))

    speed = math.radians(rng.uniform(*_ROTATION_SPEED_RANGE_DEGREES))
    start_angle = rng.uniform(0, 2 * math.pi)
    steps = np.arange(num_frames, dtype=np.float64)
    if "rotating clockwise" in actions:
        angle = start_angle + speed * steps
    elif "rotating anticlockwise" in actions:
        angle = start_angle - speed * steps
    else:
        angle = np.full(num_frames, start_angle)

    # Blinking: on and off runs of 2 or 3 frames, starting and ending visible.
    visible = np.ones(num_frames, dtype=bool)
    run_lengths = rng.integers(2, 4, size=num_frames)
    if "blinking" in actions:
        position, on, run = 0, True, 0
        while position < num_frames:
            visible[position : position + run_lengths[run]] = on
            position += run_lengths[run]
            on, run = not on, run + 1
        visible[-1] = True

    # Changing colour: runs of 2 or 3 frames, each a large hue step (always the same way round) from the last, and
    # alternately bright and dim (a change that shows in brightness as well as in hue; small models pick it up sooner).
    hue = np.full(num_frames, COLOURS[spec.colour] + rng.uniform(-0.02, 0.02))
    value = np.full(num_frames, _ACTOR_VALUES[0])
    colour_runs = rng.integers(_COLOUR_RUN_RANGE[0], _COLOUR_RUN_RANGE[1] + 1, size=num_frames)
    hue_steps = rng.uniform(*_HUE_STEP_RANGE, size=num_frames) * rng.choice([-1.0, 1.0])
    if "changing colour" in actions:
        position, run = int(colour_runs[0]), 1
        while position < num_frames:
            hue[position:] += hue_steps[run]
            value[position:] = _ACTOR_VALUES[run % 2]
            position, run = position + int(colour_runs[run]), run + 1

    return _Motion(centre_x + shake_x, centre_y + shake_y, radius, angle, visible, hue, value)


def render_clip(spec: ClipSpec, *, num_frames: int = 16, size: int = 64) -> tuple:
    """
    Draws the frames of a clip.

    Args:
        spec (`ClipSpec`):
            What the clip shows.
        num_frames (`int`, *optional*, defaults to 16):
            Number of frames (at least 2). Translations, growth, bounces and colour changes span the whole clip
            whatever its length; rotation turns by a fixed angle per frame.
        size (`int`, *optional*, defaults to 64):
            Height and width of the square frames, in pixels (at least 16).

    Returns:
        `tuple[np.ndarray, np.ndarray]`: the frames, `(num_frames, size, size, 3)` `uint8` RGB, and the actor mask,
        `(num_frames, size, size)` `bool` (`True` where a pixel shows the actor; all `False` in the frames where a
        blinking actor is hidden).
    """
    if not isinstance(spec, ClipSpec):
        raise TypeError(f"`spec` must be a ClipSpec, got {type(spec).__name__}.")
    num_frames = _check_count("num_frames", num_frames, 2)
    size = _check_count("size", size, 16)
    rng = np.random.default_rng(spec.seed)
    motion = _plan_motion(spec, num_frames, size, rng)

    # Actor coordinates of every pixel centre at every frame: undo the translation, the rotation and the scale.
    pixels = np.arange(size, dtype=np.float32) + 0.5
    cos = np.cos(motion.angle).astype(np.float32)[:, None, None]
    sin = np.sin(motion.angle).astype(np.float32)[:, None, None]
    inverse_radius = (1.0 / motion.radius).astype(np.float32)[:, None, None]
    dx = pixels[None, None, :] - motion.centre_x.astype(np.float32)[:, None, None]
    dy = pixels[None, :, None] - motion.centre_y.astype(np.float32)[:, None, None]
    u = (cos * dx + sin * dy) * inverse_radius
    v = (cos * dy - sin * dx) * inverse_radius

    mask = _actor_inside(spec.actor, u, v) & motion.visible[:, None, None]
    tint = _TEXTURE_TINT * _texture_pattern(spec.texture, u, v, rng)[..., None]
    colours = np.stack([_hsv_to_rgb(hue, 0.85, value) for hue, value in zip(motion.hue, motion.value)])[
        :, None, None, :
    ]
    actor = colours * (1.0 - tint) + tint
    marker_u, marker_v = _marker_position(spec.actor)
    on_marker = (u - marker_u) ** 2 + (v - marker_v) ** 2 <= _MARKER_RADIUS**2  # (outside the mask: not drawn)
    actor = np.where(on_marker[..., None], colours * _MARKER_SHADE, actor)
    background = _background(spec.background, size, rng)
    frames = np.where(mask[..., None], actor, background[None])
    frames = (np.clip(frames, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return frames, mask


def write_video(path, frames: np.ndarray, *, fps: int = 8, crf: int = VIDEO_CRF):
    """Writes `(T, H, W, 3)` `uint8` RGB frames (even H and W) to an H.264 (`libx264`, `yuv420p`) mp4 file."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"`frames` must be a (T, H, W, 3) uint8 array, got {frames.dtype} {frames.shape}.")
    if frames.shape[1] % 2 or frames.shape[2] % 2:
        raise ValueError(f"yuv420p needs an even frame height and width, got {frames.shape[1:3]} for {path}.")
    with av.open(os.fspath(path), mode="w", format="mp4") as container:
        stream = container.add_stream(VIDEO_CODEC, rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = VIDEO_PIX_FMT
        stream.codec_context.thread_count = 1  # tiny frames gain nothing from threads
        stream.options = {"crf": str(crf), "preset": "veryfast", "x264-params": VIDEO_X264_PARAMS}
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


def _render_and_write(job) -> None:
    spec, path, num_frames, size, fps = job
    frames, _ = render_clip(spec, num_frames=num_frames, size=size)
    write_video(path, frames, fps=fps)


def generate_benchmark(
    output_dir,
    *,
    num_train: int = 800,
    num_test: int = 200,
    num_frames: int = 16,
    size: int = 64,
    fps: int = 8,
    seed: int = 0,
    num_workers: int = 1,
    progress: bool = True,
    colours=None,
) -> dict:
    """
    Generates the benchmark into `output_dir`:

    ```
    output_dir/
      labels.json   # JSON list of the action names (the label vocabulary, `ACTIONS`)
      train.jsonl   # one line per clip: {"video": "videos/train_00000.mp4", "labels": [...], "actor": "disc"}
      test.jsonl    # the same for the test clips, whose actor kinds never appear in train.jsonl
      info.json     # actor kinds of each split, counts, label counts, seed and settings
      README.md     # the same in words
      videos/*.mp4  # H.264 (libx264, yuv420p) clips
    ```

    Video paths in the manifests are relative to `output_dir`. The manifests and `info.json` are byte-identical for a
    given seed and settings, and the videos decode to identical frames.

    Args:
        output_dir (`str` or `os.PathLike`):
            Folder to write to (created if needed; files of the same names are overwritten).
        num_train (`int`, *optional*, defaults to 800):
            Number of training clips (actors from `TRAIN_ACTORS`).
        num_test (`int`, *optional*, defaults to 200):
            Number of test clips (actors from `TEST_ACTORS`).
        num_frames (`int`, *optional*, defaults to 16):
            Frames per clip.
        size (`int`, *optional*, defaults to 64):
            Height and width of the frames (even, at least 16).
        fps (`int`, *optional*, defaults to 8):
            Frame rate written in the videos.
        seed (`int`, *optional*, defaults to 0):
            Seed of everything that is drawn.
        num_workers (`int`, *optional*, defaults to 1):
            Processes that render and encode clips (the output does not depend on it). Each worker starts by importing
            the `modeling_msqnet` package (torch, transformers: seconds), so workers only pay off for thousands of
            large clips; one process writes about 100 clips of 32x32x8 a second.
        progress (`bool`, *optional*, defaults to `True`):
            Whether to show a progress bar.
        colours (`list[str]`, *optional*):
            The actor colours to draw from (names of `COLOURS`; all of them by default). Fewer colours make the
            compositional zero-shot variant (`modeling_msqnet.zero_shot.compositional`) denser; every other draw is
            the same as with all colours.

    Returns:
        `dict`: the output paths, the counts per split, actor and label, and the time taken (`seconds`).
    """
    num_train = _check_count("num_train", num_train, 0)
    num_test = _check_count("num_test", num_test, 0)
    num_frames = _check_count("num_frames", num_frames, 2)
    size = _check_count("size", size, 16)
    if size % 2:
        raise ValueError(f"`size` must be even (yuv420p video), got {size}.")
    fps = _check_count("fps", fps, 1)
    seed = _check_count("seed", seed, 0)
    num_workers = _check_count("num_workers", num_workers, 1)
    colours = check_colours(colours)
    if num_train + num_test == 0:
        raise ValueError("`num_train` and `num_test` are both 0: there is nothing to generate.")

    start_time = time.perf_counter()
    output_dir = os.fspath(output_dir)
    os.makedirs(os.path.join(output_dir, "videos"), exist_ok=True)
    records, jobs = _plan_clips(output_dir, num_train, num_test, seed, colours, (num_frames, size, fps))
    _render_clips(jobs, num_workers, progress)
    info = _benchmark_info(seed, num_frames, size, fps, colours, records)
    paths = _write_benchmark_files(output_dir, records, info)

    seconds = time.perf_counter() - start_time
    logger.info(
        "Wrote %d train and %d test clips (%dx%d, %d frames) to %s in %.1f s.",
        num_train,
        num_test,
        size,
        size,
        num_frames,
        output_dir,
        seconds,
    )
    return {"output_dir": output_dir, "paths": paths, **info["splits"], "seconds": seconds}


def _plan_clips(output_dir: str, num_train: int, num_test: int, seed: int, colours, clip_format: tuple) -> tuple:
    """The manifest records of each split and the rendering jobs `(spec, path, num_frames, size, fps)` of all clips."""
    records, jobs = {}, []
    for split, count in (("train", num_train), ("test", num_test)):
        digits = max(5, len(str(max(count - 1, 0))))
        records[split] = []
        for index, spec in enumerate(sample_split_specs(split, count, seed, colours)):
            relative_path = f"videos/{split}_{index:0{digits}d}.mp4"
            records[split].append({"video": relative_path, "labels": list(spec.actions), "actor": spec.actor})
            jobs.append((spec, os.path.join(output_dir, relative_path), *clip_format))
    return records, jobs


def _render_clips(jobs: list, num_workers: int, progress: bool):
    """Render and encode every clip, in `num_workers` processes (the output does not depend on it)."""
    with tqdm(total=len(jobs), desc="Generating clips", unit="clip", disable=not progress) as bar:
        if num_workers == 1:
            for job in jobs:
                _render_and_write(job)
                bar.update()
        else:
            # The caller may hold threads (e.g. torch) that fork dislikes.
            context = multiprocessing.get_context("spawn")
            with concurrent.futures.ProcessPoolExecutor(num_workers, mp_context=context) as executor:
                for _ in executor.map(
                    _render_and_write, jobs, chunksize=max(1, min(32, len(jobs) // (4 * num_workers)))
                ):
                    bar.update()


def _benchmark_info(seed: int, num_frames: int, size: int, fps: int, colours, records: dict) -> dict:
    """What `info.json` says: the settings, the action and actor vocabularies and the statistics of each split."""
    return {
        "generator": "modeling_msqnet.data.synthetic_actions",
        "seed": seed,
        "num_frames": num_frames,
        "size": size,
        "fps": fps,
        "codec": {
            "codec": VIDEO_CODEC,
            "pix_fmt": VIDEO_PIX_FMT,
            "crf": VIDEO_CRF,
            "preset": "veryfast",
            "x264_params": VIDEO_X264_PARAMS,
        },
        "actions": list(ACTIONS),
        "action_groups": [list(group) for group in ACTION_GROUPS],
        "max_actions_per_clip": MAX_ACTIONS_PER_CLIP,
        "train_actors": list(TRAIN_ACTORS),
        "test_actors": list(TEST_ACTORS),
        "colours": list(colours),
        "textures": list(TEXTURES),
        "backgrounds": list(BACKGROUNDS),
        "actor_size_range": list(ACTOR_SIZE_RANGE),
        "splits": {split: _split_statistics(records[split]) for split in SPLITS},
    }


def _write_benchmark_files(output_dir: str, records: dict, info: dict) -> dict:
    """Write `labels.json`, the manifests, `info.json` and the README; returns the paths of everything written."""
    paths = {
        "labels": os.path.join(output_dir, "labels.json"),
        "train": os.path.join(output_dir, "train.jsonl"),
        "test": os.path.join(output_dir, "test.jsonl"),
        "info": os.path.join(output_dir, "info.json"),
        "readme": os.path.join(output_dir, "README.md"),
        "videos": os.path.join(output_dir, "videos"),
    }
    with open(paths["labels"], "w", encoding="utf-8") as file:
        json.dump(list(ACTIONS), file, indent=2)
        file.write("\n")
    for split in SPLITS:
        with open(paths[split], "w", encoding="utf-8") as file:
            for record in records[split]:
                file.write(json.dumps(record) + "\n")

    with open(paths["info"], "w", encoding="utf-8") as file:
        json.dump(info, file, indent=2)
        file.write("\n")
    with open(paths["readme"], "w", encoding="utf-8") as file:
        file.write(_readme(info))
    return paths


def _split_statistics(records) -> dict:
    label_counts = Counter(label for record in records for label in record["labels"])
    actor_counts = Counter(record["actor"] for record in records)
    cardinality = Counter(len(record["labels"]) for record in records)
    return {
        "num_clips": len(records),
        "label_counts": {action: label_counts[action] for action in ACTIONS},
        "actor_counts": dict(sorted(actor_counts.items())),
        "labels_per_clip": {str(k): cardinality[k] for k in range(1, MAX_ACTIONS_PER_CLIP + 1)},
    }


def _readme(info: dict) -> str:
    lines = [
        "# Synthetic actor-agnostic multi-label actions",
        "",
        "Generated by `modeling_msqnet.data.synthetic_actions` "
        f"(seed {info['seed']}, {info['size']}x{info['size']} pixels, {info['num_frames']} frames at {info['fps']} fps, "
        f"{info['codec']['codec']} {info['codec']['pix_fmt']} crf {info['codec']['crf']}).",
        "",
        "Each clip shows one actor doing 1 to 3 of these actions at once (`labels.json`): "
        + ", ".join(info["actions"])
        + ".",
        "At most one action of each group per clip: "
        + "; ".join(" / ".join(group) for group in info["action_groups"])
        + ".",
        "",
        "Train and test are split by actor kind: the test actors are never seen in training.",
        "",
        "| split | clips | actor kinds |",
        "| --- | --- | --- |",
    ]
    for split in SPLITS:
        kinds = info[f"{split}_actors"]
        lines.append(f"| {split} | {info['splits'][split]['num_clips']} | {', '.join(kinds)} |")
    lines += ["", "| action | train clips | test clips |", "| --- | --- | --- |"]
    for action in info["actions"]:
        counts = [info["splits"][split]["label_counts"][action] for split in SPLITS]
        lines.append(f"| {action} | {counts[0]} | {counts[1]} |")
    lines += [
        "",
        "Manifests (`train.jsonl`, `test.jsonl`) hold one JSON object per line: "
        '`{"video": "videos/train_00000.mp4", "labels": [...], "actor": "..."}`, paths relative to this folder.',
        "",
    ]
    return "\n".join(lines)


def main(argv=None):
    """Command line entry point (`msqnet-generate-benchmark`); see `--help`."""
    parser = argparse.ArgumentParser(
        prog="msqnet-generate-benchmark",
        description="Generate the synthetic multi-label, actor-agnostic action benchmark (mp4 clips and manifests).",
    )
    parser.add_argument("--output_dir", required=True, help="Folder to write labels.json, train/test.jsonl, videos/.")
    parser.add_argument("--num_train", type=int, default=800, help="Number of training clips (train actor kinds).")
    parser.add_argument("--num_test", type=int, default=200, help="Number of test clips (unseen actor kinds).")
    parser.add_argument("--num_frames", type=int, default=16, help="Frames per clip.")
    parser.add_argument("--size", type=int, default=64, help="Frame height and width in pixels (even).")
    parser.add_argument("--fps", type=int, default=8, help="Frame rate of the videos.")
    parser.add_argument("--seed", type=int, default=0, help="Seed of everything that is drawn.")
    parser.add_argument("--num_workers", type=int, default=1, help="Processes rendering and encoding clips.")
    parser.add_argument("--no_progress", action="store_true", help="Do not show a progress bar.")
    parser.add_argument(
        "--colours",
        nargs="+",
        default=None,
        help=f"Actor colours to draw from (default: all of {', '.join(COLOURS)}).",
    )
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        options = ("num_train", "num_test", "num_frames", "size", "fps", "seed", "num_workers", "colours")
        summary = generate_benchmark(
            args.output_dir, progress=not args.no_progress, **{name: getattr(args, name) for name in options}
        )
    except ValueError as error:
        parser.error(str(error))
    for split in SPLITS:
        logger.info("%s label counts: %s", split, summary[split]["label_counts"])


if __name__ == "__main__":
    main()
