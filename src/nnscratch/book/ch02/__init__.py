"""The book's `ch02` modules over nnscratch (see :mod:`nnscratch.book`)."""
