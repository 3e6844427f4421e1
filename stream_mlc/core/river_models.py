"""River's multi-label models, available by name (binary relevance = River's PerOutputClassifier).

River's model packages are imported when a model is built, not when this module registers
them: together they take about a second to import, which a worker running our own learner
(the default) need not spend before its first prediction.
"""

from __future__ import annotations

from stream_mlc.core.catalog import register


@register("river-br-lr")
def br_logistic_regression(lr: float = 0.01, l2: float = 0.0, scale: bool = True):
    """StandardScaler, then one LogisticRegression per label (the service's first default)."""
    from river import linear_model, multioutput, optim, preprocessing

    per_label = multioutput.PerOutputClassifier(
        linear_model.LogisticRegression(optimizer=optim.SGD(lr), l2=l2)
    )
    return preprocessing.StandardScaler() | per_label if scale else per_label


@register("river-br-ht")
def br_hoeffding_tree(
    grace_period: int = 200,
    delta: float = 1e-5,
    tau: float = 0.05,
    leaf_prediction: str = "nba",
    nb_threshold: int = 0,
):
    """One HoeffdingTreeClassifier per label, with the parameters of MLHAT2024's "HT" column."""
    from river import multioutput, tree

    return multioutput.PerOutputClassifier(
        tree.HoeffdingTreeClassifier(
            grace_period=grace_period,
            delta=delta,
            tau=tau,
            leaf_prediction=leaf_prediction,
            nb_threshold=nb_threshold,
        )
    )


@register("river-br-nb")
def br_gaussian_nb():
    """One GaussianNB per label (MLHAT2024's "NB")."""
    from river import multioutput, naive_bayes

    return multioutput.PerOutputClassifier(naive_bayes.GaussianNB())
