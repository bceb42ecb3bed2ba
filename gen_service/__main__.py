"""`python -m gen_service` is the `tracegen` command."""

from gen_service.cli import main

main()
