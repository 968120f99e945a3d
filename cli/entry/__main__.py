"""`python -m invarlock`: the same CLI as the `invarlock` console script."""

from invarlock.cli.start import main

main()
