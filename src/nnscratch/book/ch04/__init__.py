"""The book's `ch04` modules over nnscratch (see :mod:`nnscratch.book`)."""
