"""Native learners: numpy multi-label models with River's interface, registered by name.

Importing this package registers them with :func:`stream_mlc.core.models.make_model`:

``native-mlc`` (:class:`NativeMLC`; parameters ``lr=0.3, softmax=0.5, nonempty=True, g0=1.0,
max_features=1000000``)
    binary relevance logistic regression with factored AdaGrad steps, a softmax head over
    the labels and the non-empty correction: the service's default model.
``native-lr`` (:class:`NativeLR`; ``lr, g0, max_features``)
    plain binary relevance logistic regression with factored AdaGrad steps.

Both keep River's ``learn_one`` / ``predict_proba_one`` / ``predict_one`` (and pass River's
``check_estimator``), grow with new features and labels, cost O(labels x non-zeros) per
event, are deterministic and pickle mid-stream, and add ``reset_label(label)`` for drift
reactions and numpy batch paths for throughput: ``predict_proba_batch(xs) -> (labels, P)``,
``learn_batch(xs, ys, exact=False)`` and ``test_then_train_batch(xs, ys)`` (see
:mod:`stream_mlc.learners.linear`).
"""

from stream_mlc.learners.linear import NativeLR, NativeMLC

__all__ = ["NativeLR", "NativeMLC"]
