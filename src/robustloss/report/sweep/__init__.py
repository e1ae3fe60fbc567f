"""A sweep's report: Table 1 (``table``), Figures 5-6 (``figures``), loss curves
(``loss_curves``) and the page that holds them (``index``), read from the results store.
"""
