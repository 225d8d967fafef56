"""The book's `common` modules over nnscratch (see :mod:`nnscratch.book`)."""
