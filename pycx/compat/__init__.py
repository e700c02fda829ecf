"""Drop-in adapters with the call signatures and return conventions of estimators used in
earlier work, computed by pycx (see each module for the differences from the originals):

- `pycx.compat.mlentropy`: ``entropy_xgb``, ``entropy_histogram`` (Janik's ml-entropy);
- `pycx.compat.ibsgd`: ``entropy_estimator_kl``, ``entropy_estimator_bd``,
  ``kde_condentropy`` (the information-plane KDE bounds, in nats);
- `pycx.compat.relevance`: ``calculate_HofKS`` (normalised relevance and resolution).
"""
