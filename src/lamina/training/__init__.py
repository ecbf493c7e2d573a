"""Training: the loop, optimisation, checkpoints, evaluation metrics and the run directory.

(The guide calls this layer ``train``; the package is ``training`` so that ``lamina.train``
stays the public function.)
"""
