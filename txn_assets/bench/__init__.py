"""`make bench`: speed and memory figures of the whole stream, printed and written as JSON.

Figures, never assertions: the speed targets live here, not in timed unit tests.
"""
