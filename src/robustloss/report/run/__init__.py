"""A run's report: the page (``gallery``), the suspects' overview (``overview``) and the
``--loss auto`` section (``auto_section``), read from a run folder through
``robustloss.run.rundir``'s typed reader.
"""
