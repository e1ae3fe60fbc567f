"""A sweep's report: trials pooled into settings (``grouping``), Table 1 (``table``) with its
paired comparison (``paired``) and the paper's orderings (``orderings``), Figures 5-6
(``figures``), loss curves (``loss_curves``) and the page that holds them (``index``), read
from the results store.
"""
