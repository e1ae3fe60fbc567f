"""A run's report: the page (``gallery``), the suspects' overview (``overview``) and the
``--loss auto`` section (``auto_section``), read from a run folder through
``robustloss.run.reader``, the run folder's one typed reader (and ``robustloss.run.tiles``
for the review sheets' images: a report never imports the review).
"""
