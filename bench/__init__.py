"""``make bench``: what each route and the cold start cost (bench/__main__.py).

Importing it gives the service its settings on moto (bench/environment.py).
"""

from bench import environment

environment.use()
