"""The book's import paths over nnscratch: a script of *Deep Learning from Scratch* runs with each import
of a book module prefixed (``from common.layers import *`` -> ``from nnscratch.book.common.layers import *``,
``from two_layer_net import TwoLayerNet`` in ch05 -> ``from nnscratch.book.ch05.two_layer_net import ...``).

These modules adapt nnscratch's own classes to the book's names and signatures (``params['W1']``,
``train_flg``, ``dW``, ``layers['Affine1']``, ``save_params`` ...); they hold no copy of the book's code.
The book computes in float64 (NumPy's default), so its networks here are float64 unless ``dtype=`` says
otherwise. See docs/BOOK.md.
"""
