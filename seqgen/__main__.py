from seqgen.cli import main

main()
