"""The book's `dataset` modules over nnscratch (see :mod:`nnscratch.book`)."""
