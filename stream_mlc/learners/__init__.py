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

The other model families (each in its module, same contract: River's interface and
``check_estimator``, ``predict_proba_batch``, ``reset_label``, growth, bounded memory,
deterministic for a seed, pickling mid-stream):

``chains`` (:class:`ClassifierChains`; ``chains=3, sweeps=4, lr=0.1, base_lr=0.3, softmax=0.5,
seed=0``)
    an ensemble of classifier chains in seeded random orders: a chained label layer over
    ``native-mlc``, its forward pass vectorised over labels and chains.
``powerset`` (:class:`PrunedSets`; ``max_classes=64, min_support=5, subsets=2, fade=0.999,
lr=0.1, br=0.5, decode=0, every=50, joint=0``)
    online pruned sets: a softmax over the frequent label sets (fading counts, pruning to
    frequent subsets), marginals mixed with binary relevance; ``decode=1, joint=1`` predicts
    the most likely frequent set (the one for subset accuracy).
``knn`` (:class:`StreamingKNN`; ``k=11, window=1000, min_window=100, fade=0.998,
smoothing=2, punish=2, delta=0.002``)
    streaming multi-label kNN: ADWIN-sized window, ML-kNN posteriors with a neighbourhood
    size per label, punishment of neighbours that mislead.
``neural`` (:class:`OnlineMLP`; ``hidden=64, lr=0.005, rare_weight=0, max_weight=10, l2=0,
seed=0``)
    standardised inputs, one shared tanh layer, one sigmoid per label, BCE, optional rare-label
    weighting, Adam.
``portfolio`` (:class:`Portfolio`; ``members="native-mlc|chains|powerset", metric="micro_f1",
window=500, margin=0.01, confidence=0.95, per_label=False, thresholds="adaptive",
ensemble=False, start=0``)
    champion and challengers: every member learns every example and is scored in shadow; the
    champion's probabilities are served; a challenger that is better over the window, by the
    margin, with confidence (paired test) is promoted, and the promotion is an event
    (``drain_events()``); ``report()`` gives every member's metrics.
``auto``
    the portfolio chosen for quality per unit of CPU (see :data:`portfolio.AUTO_MEMBERS`).
"""

from stream_mlc.learners.chains import ClassifierChains
from stream_mlc.learners.knn import StreamingKNN
from stream_mlc.learners.linear import NativeLR, NativeMLC
from stream_mlc.learners.neural import OnlineMLP
from stream_mlc.learners.portfolio import Portfolio
from stream_mlc.learners.powerset import PrunedSets

__all__ = ["ClassifierChains", "NativeLR", "NativeMLC", "OnlineMLP", "Portfolio", "PrunedSets", "StreamingKNN"]
