"""Settings chosen without ground truth (``--loss auto``): the candidates, the plan and its
budget, the label-free criteria, the canaries, and the successive-halving search itself.

It sees the images and the *given* labels, nothing else. May import: ``seeds``, ``losses``,
``models``, ``detect``, ``data``, ``train``. Never ``noise``, ``run`` or ``probs`` (checked
by .importlinter): nothing here may hold the true corruptions.
"""
