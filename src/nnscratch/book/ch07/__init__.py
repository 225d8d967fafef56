"""The book's `ch07` modules over nnscratch (see :mod:`nnscratch.book`)."""
