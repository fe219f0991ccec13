"""scikit-learn's metadata routing for gmmcore's estimators, without scikit-learn.

With ``sklearn.set_config(enable_metadata_routing=True)``, meta-estimators
(``cross_validate``, ``GridSearchCV``, ``Pipeline``) pass metadata such as
``sample_weight`` only to the methods that asked for it through
``set_{method}_request``, and read what an estimator asked for through
``get_metadata_routing()``.  scikit-learn's estimators inherit both from its
``_MetadataRequester``; gmmcore's define them here and import scikit-learn only
when one is called (scikit-learn is then in use), never at ``import gmmcore``.
"""

# scikit-learn's sentinel for "leave this request as it is" (metadata_routing.UNCHANGED)
UNCHANGED = "$UNCHANGED$"

# The methods that take metadata, and which.  fit_predict's requests are fit's (and
# predict's, which takes none), as scikit-learn composes them.
ROUTED = {"fit": ("sample_weight",), "partial_fit": ("sample_weight",),
          "score": ("sample_weight",)}


class MetadataRequester:
    """``set_fit_request``, ``set_partial_fit_request``, ``set_score_request`` and
    ``get_metadata_routing``, as scikit-learn's estimators have them."""

    def set_fit_request(self, *, sample_weight=UNCHANGED):
        """Request metadata passed to ``fit`` (scikit-learn's metadata routing).

        Only available with ``sklearn.set_config(enable_metadata_routing=True)``.

        Parameters
        ----------
        sample_weight : str, True, False, or None, default=sklearn.utils.metadata_routing.UNCHANGED
            Metadata routing for ``sample_weight`` in ``fit``: True to request it,
            False not to, None to raise if it is given, a string to request it
            under that alias.

        Returns
        -------
        self : object
        """
        return self._set_request("fit", sample_weight=sample_weight)

    def set_partial_fit_request(self, *, sample_weight=UNCHANGED):
        """Request metadata passed to ``partial_fit`` (see :meth:`set_fit_request`).

        Parameters
        ----------
        sample_weight : str, True, False, or None, default=sklearn.utils.metadata_routing.UNCHANGED
            Metadata routing for ``sample_weight`` in ``partial_fit``.

        Returns
        -------
        self : object
        """
        return self._set_request("partial_fit", sample_weight=sample_weight)

    def set_score_request(self, *, sample_weight=UNCHANGED):
        """Request metadata passed to ``score`` (see :meth:`set_fit_request`).

        Parameters
        ----------
        sample_weight : str, True, False, or None, default=sklearn.utils.metadata_routing.UNCHANGED
            Metadata routing for ``sample_weight`` in ``score``.

        Returns
        -------
        self : object
        """
        return self._set_request("score", sample_weight=sample_weight)

    def get_metadata_routing(self):
        """The metadata this estimator requests, as scikit-learn's
        ``MetadataRequest`` (needs scikit-learn).

        Returns
        -------
        routing : sklearn.utils.metadata_routing.MetadataRequest
        """
        from sklearn.utils.metadata_routing import MetadataRequest, get_routing_for_object

        chosen = getattr(self, "_metadata_request", None)
        if chosen is not None:  # set through set_*_request: a copy of it
            return get_routing_for_object(chosen)
        requests = MetadataRequest(owner=self)
        for method, params in ROUTED.items():
            for param in params:
                # unset: None, scikit-learn's default (an error if it is passed)
                getattr(requests, method).add_request(param=param, alias=None)
        return requests

    def _set_request(self, method, **aliases):
        from sklearn import get_config

        if not get_config().get("enable_metadata_routing", False):
            raise RuntimeError(
                "This method is only available when metadata routing is enabled. You can "
                "enable it using sklearn.set_config(enable_metadata_routing=True).")
        requests = self.get_metadata_routing()
        for param, alias in aliases.items():
            if alias != UNCHANGED:
                getattr(requests, method).add_request(param=param, alias=alias)
        # scikit-learn's attribute (its clone copies it to the clone)
        self._metadata_request = requests
        return self
