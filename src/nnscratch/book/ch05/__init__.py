"""The book's `ch05` modules over nnscratch (see :mod:`nnscratch.book`)."""
