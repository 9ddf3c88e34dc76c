"""Where assets live and how they move: storage backends, the catalog database, job runners.

Depends on processing/ only for its settings and errors; never on api/ or viewer/.
"""
