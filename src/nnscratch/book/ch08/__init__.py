"""The book's `ch08` modules over nnscratch (see :mod:`nnscratch.book`)."""
