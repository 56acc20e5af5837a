"""Base classes for the kinds of component a plugin can register.

Subclassing is optional (registration checks the methods each kind needs and a
``Params`` model), but the base classes document the contract and hold the
shared constructor. Components are built by :meth:`Registry.build
<ser_framework.registry.Registry.build>`, which validates their params first.
"""
from __future__ import annotations

from typing import ClassVar

from .params import Params

KINDS = ("dataset", "feature", "balancer", "selector", "classifier", "augmenter")

#: methods a registered class of each kind must provide
REQUIRED_METHODS = {
    "dataset": ("load",),
    "feature": ("extract",),
    "balancer": ("resample",),
    "selector": ("fit", "transform", "get_state", "set_state"),
    "classifier": ("fit", "predict_proba", "save", "load"),
    "augmenter": ("apply",),
}


class Component:
    """A named, parameterised piece of the pipeline."""

    name: ClassVar[str]
    kind: ClassVar[str]
    description: ClassVar[str] = ""
    #: the component's parameter model (a :class:`ser_framework.Params` subclass)
    Params: ClassVar[type[Params]] = Params

    def __init__(self, params: Params | None = None):
        if params is None:
            params = self.Params()
        if not isinstance(params, self.Params):
            raise TypeError(f"{type(self).__name__} takes a {self.Params.__qualname__} instance; "
                            f"build components with Registry.build to validate a mapping")
        self.params = params

    @property
    def config(self) -> dict:
        """The params as plain JSON data (for manifests and cache keys)."""
        return self.params.model_dump(mode="json")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config})"


class Dataset(Component):
    """Lists the clips of a corpus.

    ``load()`` returns a DataFrame with columns ``path`` (str), ``label`` (str)
    and ``speaker`` (str); extra metadata columns are kept. A dataset that has
    no real speaker information sets ``speakers_known = False`` (and
    ``attrs["speakers_known"]`` on the frame), and reports then say the
    evaluation is NOT speaker-independent. ``check()`` lists problems found
    without reading the data (a missing folder) as ``(param, message)`` pairs;
    ``ser validate`` reports them.
    """

    kind = "dataset"
    speakers_known: bool = True

    def check(self) -> list[tuple[str, str]]:
        return []

    def load(self):  # pragma: no cover - interface
        raise NotImplementedError


class FeatureExtractor(Component):
    """Turns one clip into a fixed-length vector, or a fixed-size frame sequence.

    ``extract(ctx)`` receives an :class:`ser_framework.spectral.AudioContext`
    that caches the spectral representations every extractor shares, and
    returns a 1-D float array (``output = "pooled"``). A sequence extractor
    (``output = "sequence"``) returns a ``frame_shape`` array instead:
    ``(frames, channels)``, padded or cropped to a fixed number of frames,
    whose last channel is the mask (1 for a real frame, 0 for padding). The
    framework stores it flattened (cache, feature table, augmented copies) and
    hands sequence classifiers the ``(rows, frames, channels)`` array.
    ``version`` is part of the feature-cache key: bump it when results change.
    """

    kind = "feature"
    version: ClassVar[str] = "1"
    #: what ``extract`` returns: "pooled" (a 1-D vector) or "sequence" (``frame_shape``, mask last)
    output: ClassVar[str] = "pooled"

    @property
    def frame_shape(self) -> tuple[int, int]:
        """``(frames, channels)`` of a sequence extractor's output, the mask channel included."""
        raise NotImplementedError(f"feature '{self.name}' gives pooled vectors, not frame sequences")

    def extract(self, ctx):  # pragma: no cover - interface
        raise NotImplementedError


class Balancer(Component):
    """Resamples training rows: ``resample(X, y, rng) -> (X, y)``."""

    kind = "balancer"

    def resample(self, X, y, rng):  # pragma: no cover - interface
        raise NotImplementedError


class Selector(Component):
    """A transformer fitted on training rows only.

    Its fitted state is plain arrays (``get_state``/``set_state``), so bundles
    store it without pickle.
    """

    kind = "selector"

    def fit(self, X, y):  # pragma: no cover - interface
        raise NotImplementedError

    def transform(self, X):  # pragma: no cover - interface
        raise NotImplementedError

    def get_state(self) -> dict:  # pragma: no cover - interface
        raise NotImplementedError

    def set_state(self, state: dict) -> None:  # pragma: no cover - interface
        raise NotImplementedError


class Classifier(Component):
    """Maps selected features to class probabilities.

    ``fit(X, y, n_classes, validation=None, seed=0, progress=False)``;
    ``predict_proba(X)``; ``save(directory) -> list of file names``;
    classmethod ``load(directory, params) -> instance``. Saved files must be
    formats that do not run code when loaded. ``input = "pooled"`` classifiers
    get ``X`` as rows × features; ``input = "sequence"`` ones get rows × frames
    × channels from a sequence extractor, the last channel the mask (1 real
    frame, 0 padding), also in ``validation`` and ``predict_proba``.
    """

    kind = "classifier"
    #: what ``X`` holds: "pooled" vectors or "sequence" frames (see :class:`FeatureExtractor`)
    input: ClassVar[str] = "pooled"
    #: whether ``fit`` uses a validation set (carved out by speaker before balancing)
    uses_validation: ClassVar[bool] = False

    def fit(self, X, y, n_classes, validation=None, seed=0, progress=False):  # pragma: no cover
        raise NotImplementedError

    def predict_proba(self, X):  # pragma: no cover - interface
        raise NotImplementedError

    def save(self, directory) -> list[str]:  # pragma: no cover - interface
        raise NotImplementedError

    @classmethod
    def load(cls, directory, params):  # pragma: no cover - interface
        raise NotImplementedError

    def check_input(self, shape: tuple[int, ...]) -> list[tuple[str, str]]:
        """Problems with the input this classifier would get, as ``(param, message)`` pairs.

        Called while a config is validated, before any audio is read, for a sequence
        classifier with ``shape`` = (frames, channels) of its extractor (the mask left out);
        the built-in sequence classifiers also refuse such input in ``fit``.
        """
        return []


class Augmenter(Component):
    """An audio transform: ``apply(y, sr, rng) -> y``.

    ``y`` is mono float32 at ``sr`` Hz; the result is mono float32 at the same
    rate (its length may differ). All randomness comes from ``rng`` (a
    ``numpy.random.Generator``), so a seed reproduces the output. If the
    ``Params`` declare ``p``, the framework applies the augmenter with that
    probability (drawn from the same ``rng``); ``apply`` itself always
    transforms. Used for training copies (the config's ``augmentation``
    section, training rows only) and for the evaluation conditions.
    ``version`` is part of the feature-cache key of augmented audio: bump it
    when the output changes.
    """

    kind = "augmenter"
    version: ClassVar[str] = "1"

    def apply(self, y, sr, rng):  # pragma: no cover - interface
        raise NotImplementedError
