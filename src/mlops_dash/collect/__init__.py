"""Collectors: the producers of the ``mlops_*`` series of the metric contract.

Nothing here is imported by ``mlops-dash build``: these modules need the optional extras
(``pip install 'mlops-dash[collectors]'``).
"""
