"""nnscratch: the system of *Deep Learning from Scratch* (chapters 1-8) as a NumPy library."""
__version__ = "0.1.0"
