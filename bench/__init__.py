"""``make bench``: what each route and the cold start cost (bench/__main__.py).

The service's settings for moto are set here, before any module of the
benchmark imports the service: PynamoDB reads them at import.
"""

from bench import environment

environment.use()
